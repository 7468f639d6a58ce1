// docs/safety.md's promises for whole clusters: renew -i reads keys (the CA key included) into kpki's memory only and
// writes no private key on the operator's machine (its home and temp directories are scanned after a rollout), and a
// key file a node had readable by others is written back 0600 over SFTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kpkiAsync } from '../../helpers/kpki.js';
import { lab, skip } from './shared.js';

/** A PEM private key that parses as one, or a kubeconfig's client-key-data holding one. */
function holdsKey(text: string): boolean {
  for (const m of text.matchAll(/-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g)) {
    try {
      createPrivateKey(m[0]);
      return true;
    } catch {
      // (the words alone, as in Node's compile cache of kpki's own code, are no key)
    }
  }
  return [...text.matchAll(/client-key-data:\s*([A-Za-z0-9+/=]+)/g)].some((m) => holdsKey(Buffer.from(m[1], 'base64').toString('latin1')));
}

/** Every file under dir that holds a private key, or the bytes of one of `known` (PEM keys) in any form. */
function privateKeysUnder(dir: string, known: string[]): string[] {
  const ders = known.map((pem) => createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' }));
  const bodies = known.map((pem) => pem.split('\n')[1]);
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .filter((f) => {
      const bytes = readFileSync(f);
      const text = bytes.toString('latin1');
      // Node 24 keeps a compile cache of the modules it loads in TMPDIR: code, with whatever PEM key
      // literals in the loaded libraries, never one of the cluster's: there only the cluster's keys count
      const code = f.includes('/node-compile-cache/');
      return (!code && holdsKey(text)) || ders.some((der) => bytes.includes(der)) || bodies.some((line) => text.includes(line));
    });
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
    // the keys kpki had in memory: the new key it wrote to lab-cp2 and the CA key that signed its certificate
    const known = [cp2.read(key).toString(), cluster.node(1).read('/etc/kubernetes/pki/front-proxy-ca.key').toString()];
    assert.deepEqual([...privateKeysUnder(home, known), ...privateKeysUnder(temp, known)], [], 'private keys on the operator machine');
    assert.equal(statSync(cp2.path(key)).mode & 0o777, 0o600, `${key} tightened on lab-cp2`);
  } finally {
    rmSync(home, { recursive: true, force: true });
    rmSync(temp, { recursive: true, force: true });
  }
  await cluster.waitHealthy(60_000);
});
