// Bad input: each case fails with a one-line error naming the node file, exits non-zero, and leaves every byte
// of the tree as it was (proved by hashing the whole tree before and after; kpki's own state dir is excluded).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { hashTree, KPKI, kpki } from '../helpers/kpki.js';
import { sharedExpiredNode } from '../helpers/lab.js';
import { openssl, opensslSelfSignedCa } from '../helpers/openssl.js';

const { fresh } = sharedExpiredNode();

const PKI = 'etc/kubernetes/pki';

/** Runs renew on a broken tree and checks the refusal: non-zero, names the file, tree unchanged. */
/**
 * A refusal: exit 1 (the README's "failed: nothing was changed": bad input, a held lock, a write rolled back) unless
 * `status` says otherwise, one line (and a hint) naming `mentions`, every byte as it was.
 */
function expectRefusal(
  root: string,
  mentions: string,
  args = ['renew', 'all', '--yes'],
  env: Record<string, string> = {},
  status = 1,
): string {
  const before = hashTree(root);
  const r = kpki(['--root', root, ...args], env);
  assert.equal(r.status, status, `expected exit ${status}, got ${r.status}: ${r.stdout}${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.ok(lines[0].startsWith('kpki: '), r.stderr);
  assert.ok(lines.length <= 2, `error should be one line (+ hint): ${r.stderr}`);
  assert.ok(r.stderr.includes(mentions), `error should name ${mentions}: ${r.stderr}`);
  assert.equal(hashTree(root), before, 'the tree changed');
  // a refused run leaves no half-taken backup behind (a renewal begins its backup while it makes its keys)
  const backups = join(root, 'var/lib/kpki/backups');
  for (const id of existsSync(backups) ? readdirSync(backups) : [])
    assert.ok(existsSync(join(backups, id, 'manifest.json')), `backup ${id} left without its manifest`);
  return r.stderr;
}

test('corrupt PEM certificate', () => {
  const root = fresh();
  writeFileSync(join(root, PKI, 'apiserver.crt'), '-----BEGIN CERTIFICATE-----\nnot base64 at all!!\nAAAA\n-----END CERTIFICATE-----\n');
  expectRefusal(root, `${root}/${PKI}/apiserver.crt`);
});

test('truncated PEM certificate', () => {
  const root = fresh();
  const file = join(root, PKI, 'apiserver-kubelet-client.crt');
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.slice(0, Math.floor(text.length / 2)));
  expectRefusal(root, `${root}/${PKI}/apiserver-kubelet-client.crt`);
});

test('key that does not match its certificate', () => {
  const root = fresh();
  copyFileSync(join(root, PKI, 'apiserver.key'), join(root, PKI, 'front-proxy-client.key'));
  const stderr = expectRefusal(root, `/etc/kubernetes/pki/front-proxy-client.crt`);
  assert.match(stderr, /does not match/);
  assert.equal(kpki(['--root', root, 'check']).status, 2);
});

test('leaf not signed by any CA present', () => {
  const root = fresh();
  const ca = join(root, PKI, 'etcd', 'ca');
  opensslSelfSignedCa('etcd-ca', `${ca}.key`, `${ca}.crt`);
  expectRefusal(root, '/etc/kubernetes/pki/');
  assert.match(kpki(['--root', root, 'check']).stdout, /not signed by its CA/);
});

test('a certificate outside the catalog that no CA of the node signed never blocks the others; named, it is refused', () => {
  const root = fresh();
  // kubelet.crt replaced by a leaf of some other CA, without that CA in the file
  const scratch = join(root, 'tmp-foreign');
  mkdirSync(scratch);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  assert.equal(
    openssl(['req', '-x509', ...ec, '-subj', '/CN=someone-ca', '-days', '30', '-keyout', `${scratch}/ca.key`, '-out', `${scratch}/ca.crt`])
      .status,
    0,
  );
  assert.equal(
    openssl(['req', ...ec, '-subj', '/CN=lab-cp1', '-keyout', join(root, 'var/lib/kubelet/pki/kubelet.key'), '-out', `${scratch}/leaf.csr`])
      .status,
    0,
  );
  const signed = openssl([
    'x509',
    '-req',
    '-in',
    `${scratch}/leaf.csr`,
    '-CA',
    `${scratch}/ca.crt`,
    '-CAkey',
    `${scratch}/ca.key`,
    '-CAcreateserial',
    '-days',
    '30',
    '-out',
    join(root, 'var/lib/kubelet/pki/kubelet.crt'),
  ]);
  assert.equal(signed.status, 0, signed.stderr);
  rmSync(scratch, { recursive: true });
  const servingBefore = readFileSync(join(root, 'var/lib/kubelet/pki/kubelet.crt'));
  expectRefusal(root, '/var/lib/kubelet/pki/kubelet.crt', ['renew', 'kubelet-serving', '--yes']);
  const r = kpki(['--root', root, 'renew', 'all', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /kubelet-serving: .*not signed by any CA on this node.*left as it is/);
  assert.match(r.stdout, /Renewed 1[0-9] certificate/);
  assert.deepEqual(readFileSync(join(root, 'var/lib/kubelet/pki/kubelet.crt')), servingBefore);
});

test('CA key missing: named renewal refuses, all skips it as externally managed', () => {
  const root = fresh();
  unlinkSync(join(root, PKI, 'front-proxy-ca.key'));
  expectRefusal(root, '/etc/kubernetes/pki/front-proxy-client.crt', ['renew', 'front-proxy-client', '--yes']);
  const r = kpki(['--root', root, 'renew', 'all', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /front-proxy-client: CA key of front-proxy-ca is absent \(externally managed\)/);
});

test('unreadable file (a directory where a kubeconfig should be)', () => {
  const root = fresh();
  rmSync(join(root, 'etc/kubernetes/scheduler.conf'));
  mkdirSync(join(root, 'etc/kubernetes/scheduler.conf'));
  expectRefusal(root, `${root}/etc/kubernetes/scheduler.conf`);
  const check = kpki(['--root', root, 'check']);
  assert.equal(check.status, 3);
  assert.match(check.stderr, /scheduler\.conf/);
});

test('symlinked certificate file', () => {
  const root = fresh();
  const file = join(root, PKI, 'apiserver.crt');
  copyFileSync(file, join(root, 'apiserver-copy.crt'));
  unlinkSync(file);
  symlinkSync('/apiserver-copy.crt', file);
  assert.equal(kpki(['--root', root, 'check', '--warn', '1d', '--crit', '1d']).status, 2, 'check follows the link');
  const stderr = expectRefusal(root, `${root}/${PKI}/apiserver.crt`);
  assert.match(stderr, /symlink/);
});

test('kubeconfig that is not valid YAML', () => {
  const root = fresh();
  writeFileSync(join(root, 'etc/kubernetes/admin.conf'), 'apiVersion: v1\nusers: [oops\n');
  expectRefusal(root, `${root}/etc/kubernetes/admin.conf`);
});

test('kubeconfig that lacks its current user', () => {
  const root = fresh();
  const file = join(root, 'etc/kubernetes/controller-manager.conf');
  writeFileSync(file, readFileSync(file, 'utf8').replace(/^users:[\s\S]*$/m, 'users: []\n'));
  const stderr = expectRefusal(root, `${root}/etc/kubernetes/controller-manager.conf`);
  assert.match(stderr, /lacks the current user/);
});

/** `renew all --yes` in a mount namespace of its own where `dir` is a read-only bind mount of itself. */
function renewWithReadOnly(root: string, dir: string) {
  const script = `mount --bind "${dir}" "${dir}" && mount -o remount,ro,bind "${dir}" && exec "${process.execPath}" "${KPKI}" --root "${root}" renew all --yes`;
  return spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
}

test('read-only certificates directory (a real read-only bind mount)', {
  skip: spawnSync('unshare', ['--version']).status === 0 ? false : 'unshare not available',
}, () => {
  const root = fresh();
  const pki = join(root, PKI);
  const before = hashTree(root);
  const r = renewWithReadOnly(root, pki);
  assert.notEqual(r.status, 0, r.stdout);
  assert.match(r.stderr, /read-only file system/i);
  assert.match(r.stderr, /restored from backup/);
  assert.equal(hashTree(root), before);
});

test('read-only backup directory (a real read-only bind mount): the backup cannot be taken, one clear line, nothing changed', {
  skip: spawnSync('unshare', ['--version']).status === 0 ? false : 'unshare not available',
}, () => {
  // the renewal begins its backup while it makes its keys: a failure there must stop the run before any write
  const root = fresh();
  const backups = join(root, 'var/lib/kpki/backups');
  mkdirSync(backups, { recursive: true, mode: 0o700 });
  const before = hashTree(root);
  const r = renewWithReadOnly(root, backups);
  assert.notEqual(r.status, 0, r.stdout);
  const lines = r.stderr.trim().split('\n');
  assert.ok(lines[0].startsWith('kpki: could not take the backup before renew: '), r.stderr);
  assert.match(lines[0], /; nothing was changed$/);
  assert.ok(lines.length <= 2, `one line (+ hint): ${r.stderr}`);
  assert.equal(hashTree(root), before);
});

test('disk full during a write (ENOSPC injected at the apiserver certificate)', () => {
  const root = fresh();
  const stderr = expectRefusal(root, 'apiserver.crt', ['renew', 'all', '--yes'], { KPKI_TEST_FAIL_WRITE: 'pki/apiserver.crt' });
  assert.match(stderr, /ENOSPC/);
  assert.match(stderr, /restored from backup/);
});

test('a rename fails after the files before it are in place (super-admin.conf, the last): all restored, no temp file left', () => {
  // every file is staged (written and flushed) first and then renamed in order: this failure comes after twelve
  // certificates were already put in place, and the staged files not yet renamed must be removed too
  const root = fresh();
  const stderr = expectRefusal(root, 'super-admin.conf', ['renew', 'all', '--yes'], { KPKI_TEST_FAIL_RENAME: 'super-admin.conf' });
  assert.match(stderr, /EIO/);
  assert.match(stderr, /restored from backup/);
});

test('a second run while the lock is held fails clearly', () => {
  const root = fresh();
  mkdirSync(join(root, 'var/lib/kpki'), { recursive: true });
  writeFileSync(join(root, 'var/lib/kpki/lock'), `${process.pid}\npid ${process.pid} (the test runner)\n`);
  const stderr = expectRefusal(root, 'lock', ['renew', 'all', '--yes']);
  assert.match(stderr, /another kpki run holds the lock/);
});

test('without --yes and without a terminal: prints the plan, refuses, changes nothing', () => {
  const root = fresh();
  const before = hashTree(root);
  const r = kpki(['--root', root, 'renew', 'all']);
  assert.equal(r.status, 2);
  assert.match(r.stdout, /Renewal plan/);
  assert.match(r.stderr, /--yes/);
  assert.equal(hashTree(root), before);
});

test('modes survive a renewal (keys and kubeconfigs 0600, certificates 0644, custom modes kept)', () => {
  const root = fresh();
  chmodSync(join(root, PKI, 'apiserver.crt'), 0o640);
  assert.equal(kpki(['--root', root, 'renew', 'all', '--yes']).status, 0);
  const mode = (p: string) => spawnSync('stat', ['-c', '%a', join(root, p)], { encoding: 'utf8' }).stdout.trim();
  assert.equal(mode(`${PKI}/apiserver.crt`), '640');
  assert.equal(mode(`${PKI}/apiserver.key`), '600');
  assert.equal(mode(`${PKI}/front-proxy-client.crt`), '644');
  assert.equal(mode('etc/kubernetes/admin.conf'), '600');
});
