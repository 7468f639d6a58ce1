// The README's exit-code table, cell by cell where no other test pins it (the lab's suites pin those that need a
// running cluster: test/lab/suites/exit-codes.ts). Each case also checks the output that tells its cause, so that an
// exit code right for the wrong reason does not pass.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedHealthyNode } from '../helpers/lab.js';
import { hashTree, kpki, removeTree, tempRoot } from '../helpers/kpki.js';

const { fresh } = sharedHealthyNode();
const extra: string[] = [];
after(() => extra.forEach(removeTree));

/** A loopback address nothing listens on (no lab uses it): an API server or sshd that cannot be reached. */
const NOBODY = '127.0.0.250';

test("check exits 1 (WARNING) for an interrupted run's journal and for a request waiting for kpki import", () => {
  const root = fresh();
  assert.equal(kpki(['--root', root, 'check']).status, 0, 'a healthy node');
  mkdirSync(join(root, 'var/lib/kpki'), { recursive: true });
  writeFileSync(
    join(root, 'var/lib/kpki/journal.json'),
    JSON.stringify({ operation: 'renew', backupId: 'gone', pid: 1, startedAt: new Date().toISOString(), writes: [] }),
  );
  const journal = kpki(['--root', root, 'check']);
  assert.equal(journal.status, 1, journal.stdout + journal.stderr);
  assert.match(journal.stdout + journal.stderr, /Interrupted: a renew .* left its journal/);

  const other = fresh();
  const out = tempRoot('kpki-requests-');
  extra.push(out);
  assert.equal(kpki(['--root', other, 'csr', 'front-proxy-client', '--out', out, '--yes']).status, 0);
  const pending = kpki(['--root', other, 'check']);
  assert.equal(pending.status, 1, pending.stdout + pending.stderr);
  assert.match(pending.stdout + pending.stderr, /Waiting for the external CA \(kpki csr\): front-proxy-client/);
});

test('health exits 3 on a machine with nothing to check; restart and recover exit 2 off a running node', {
  skip: existsSync('/etc/kubernetes/manifests') && readdirSync('/etc/kubernetes/manifests').length > 0 && 'this machine runs static pods',
}, () => {
  const health = kpki(['health']);
  assert.equal(health.status, 3, health.stdout + health.stderr);
  assert.match(health.stdout + health.stderr, /nothing to check|no control-plane component|not a Kubernetes node/i);
  const root = fresh();
  for (const args of [['restart', 'kube-apiserver'], ['recover', '--yes'], ['health']]) {
    const before = hashTree(root);
    const r = kpki(['--root', root, ...args]);
    assert.equal(r.status, 2, `${args[0]}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`kpki ${args[0]} needs the running node`));
    assert.equal(hashTree(root), before);
  }
});

/** The node's admin.conf pointing at an API server nobody runs. */
function unreachableApi(root: string): string {
  const file = join(root, 'etc/kubernetes/admin.conf');
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace(/server: https:\/\/[^\s]+/, `server: https://${NOBODY}:6443`), { mode: 0o600 });
  return file;
}

test('inventory discover and token create exit 1 when the API server cannot be reached, naming it', () => {
  const root = fresh();
  const admin = unreachableApi(root);
  const out = join(root, 'discovered.yaml');
  const discover = kpki(['inventory', 'discover', '--from', admin, '--out', out]);
  assert.equal(discover.status, 1, discover.stderr);
  assert.match(discover.stderr, new RegExp(`${NOBODY.replace(/\./g, '\\.')}:6443`));
  assert.equal(existsSync(out), false, 'nothing written');
  const token = kpki(['--root', root, 'token', 'create']);
  assert.equal(token.status, 1, token.stderr);
  assert.match(token.stderr, new RegExp(`${NOBODY.replace(/\./g, '\\.')}:6443`));
});

test('backups -i exits 3 and renew -i refuses before any change (1) when a node cannot be reached', () => {
  const dir = tempRoot('kpki-inventory-');
  extra.push(dir);
  const inventory = join(dir, 'cluster.yaml');
  writeFileSync(
    inventory,
    `defaults: { user: root, key: ${join(dir, 'none')}, knownHosts: ${join(dir, 'known_hosts')} }\nnodes:\n  - { name: gone, address: ${NOBODY}, role: control-plane }\n`,
  );
  writeFileSync(join(dir, 'none'), '');
  const backups = kpki(['-i', inventory, 'backups', '--ssh-config', 'none']);
  assert.equal(backups.status, 3, backups.stdout + backups.stderr);
  assert.match(backups.stdout + backups.stderr, /gone/);
  const renew = kpki(['-i', inventory, 'renew', 'all', '--yes', '--ssh-config', 'none']);
  assert.equal(renew.status, 1, renew.stdout + renew.stderr);
  assert.match(renew.stdout + renew.stderr, /gone.*(not reached|unreachable|ECONNREFUSED|no SSH connection)/is);
  assert.match(renew.stdout + renew.stderr, /refus/i);
});

test("a value outside a shared option's choices (--strategy, -o) or not a whole number (--concurrency) is a usage error at parse time: exit 2, named, nothing read or written", () => {
  const root = fresh();
  const before = hashTree(root);
  for (const args of [
    ['renew', 'all', '--restart', '--strategy', 'reboot', '--yes'],
    ['ca', 'rotate', '--ca', 'ca', '--phase', 'trust', '--strategy', 'reboot', '--yes'],
    ['check', '-o', 'xml'],
    ['backups', '-o', 'xml'],
    ['renew', 'all', '-o', 'xml', '--yes'],
  ]) {
    const r = kpki(['--root', root, ...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(
      r.stderr,
      /argument '(reboot|xml)' is invalid\. Allowed choices are (auto, manifest, crictl, docker, systemd|[a-z, ]*json)/,
      args.join(' '),
    );
  }
  const concurrency = kpki(['--root', root, '--concurrency', '0', 'check']);
  assert.equal(concurrency.status, 2, concurrency.stdout + concurrency.stderr);
  assert.match(concurrency.stderr, /option '--concurrency <n>' argument '0' is invalid\. a whole number, 1 or more/);
  assert.equal(hashTree(root), before, 'nothing written');
});
