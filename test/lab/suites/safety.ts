// docs/safety.md's promises for whole clusters: renew -i reads keys (the CA key included) into kpki's memory only and
// writes no private key on the operator's machine (its home and temp directories are scanned after a rollout), and a
// key file a node had readable by others is written back 0600 over SFTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kpkiAsync } from '../../helpers/kpki.js';
import { lab, skip } from './shared.js';

/** Every file under dir that holds private key material. */
function privateKeysUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .filter((f) => /PRIVATE KEY-----|client-key-data/.test(readFileSync(f, 'latin1')));
}

test('renew -i writes no private key on the operator machine (home and temp scanned); a key readable by others on a node comes back 0600 over SFTP', {
  skip,
}, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  const cp2 = cluster.node(2);
  const key = '/etc/kubernetes/pki/front-proxy-client.key';
  chmodSync(cp2.path(key), 0o644);
  const home = mkdtempSync(join(tmpdir(), 'kpki-operator-home-'));
  const temp = mkdtempSync(join(tmpdir(), 'kpki-operator-tmp-'));
  try {
    const r = await kpkiAsync(['renew', '-i', inventory, 'front-proxy-client', '--yes', '--ssh-config', 'none'], {
      HOME: home,
      TMPDIR: temp,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual([...privateKeysUnder(home), ...privateKeysUnder(temp)], [], 'private keys on the operator machine');
    assert.equal(statSync(cp2.path(key)).mode & 0o777, 0o600, `${key} tightened on lab-cp2`);
  } finally {
    rmSync(home, { recursive: true, force: true });
    rmSync(temp, { recursive: true, force: true });
  }
  await cluster.waitHealthy(60_000);
});
