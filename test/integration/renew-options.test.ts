// renew's options: --dry-run, --if-expires-within, --reuse-keys, --key-algorithm, --validity capped by the CA,
// and the kubelet's rotated client PEM renewed the kubelet's way (new file, symlink swapped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readlinkSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashTree, kpki } from '../helpers/kpki.js';
import { sharedExpiredNode } from '../helpers/lab.js';
import { certFacts, publicKeyOfCert, publicKeyOfKey, verifies } from '../helpers/openssl.js';

const { fresh } = sharedExpiredNode();
const PKI = 'etc/kubernetes/pki';

test('--dry-run prints the plan and changes nothing', () => {
  const root = fresh();
  const before = hashTree(root, []);
  const r = kpki(['--root', root, 'renew', 'all', '--dry-run']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /apiserver\s+expired 35d ago/);
  assert.match(r.stdout, /dry run: nothing was changed/);
  assert.equal(hashTree(root, []), before, 'dry run must not even create kpki state');
});

test('--if-expires-within renews only what falls in the window, and says so when nothing does', () => {
  const root = fresh();
  assert.equal(kpki(['--root', root, 'renew', 'apiserver', '--yes']).status, 0);
  const r = kpki(['--root', root, 'renew', 'all', '--if-expires-within', '30d', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /apiserver: expires in 36\dd, outside --if-expires-within 30d/);
  const again = kpki(['--root', root, 'renew', 'all', '--if-expires-within', '30d', '--yes']);
  assert.equal(again.status, 0);
  assert.match(again.stdout, /Nothing to renew/);
});

test('--reuse-keys keeps the key; --key-algorithm changes it', () => {
  const root = fresh();
  const key = join(root, PKI, 'apiserver.key');
  const oldKey = readFileSync(key);
  assert.equal(kpki(['--root', root, 'renew', 'apiserver', '--reuse-keys', '--yes']).status, 0);
  assert.deepEqual(readFileSync(key), oldKey);
  assert.equal(kpki(['--root', root, 'renew', 'apiserver', '--key-algorithm', 'RSA-2048', '--yes']).status, 0);
  assert.match(readFileSync(key, 'utf8'), /BEGIN RSA PRIVATE KEY/);
  assert.equal(publicKeyOfCert(join(root, PKI, 'apiserver.crt')), publicKeyOfKey(key));
  assert.ok(verifies(join(root, PKI, 'ca.crt'), join(root, PKI, 'apiserver.crt')).ok);
});

test('--validity beyond the CA is capped at the CA notAfter, with a warning', () => {
  const root = fresh();
  const r = kpki(['--root', root, 'renew', 'front-proxy-client', '--validity', '20y', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /capped/);
  const leaf = certFacts(join(root, PKI, 'front-proxy-client.crt')).notAfter.getTime();
  const ca = certFacts(join(root, PKI, 'front-proxy-ca.crt')).notAfter.getTime();
  assert.equal(leaf, ca);
});

test('kubelet client PEM: a new timestamped file and the -current symlink swapped, as the kubelet does', () => {
  const root = fresh();
  const link = join(root, 'var/lib/kubelet/pki/kubelet-client-current.pem');
  const oldTarget = readlinkSync(link);
  const r = kpki(['--root', root, 'renew', 'kubelet.conf', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  const newTarget = readlinkSync(link);
  assert.notEqual(newTarget, oldTarget);
  const pem = join(root, 'var/lib/kubelet/pki', newTarget.split('/').pop()!);
  assert.ok(verifies(join(root, PKI, 'ca.crt'), pem).ok);
  assert.match(certFacts(pem).subject, /CN=system:node:lab-cp1,O=system:nodes/);
  const backups = JSON.parse(kpki(['--root', root, 'backups', '-o', 'json']).stdout);
  assert.equal(kpki(['--root', root, 'restore', backups[0].id]).status, 0);
  assert.equal(readlinkSync(link), oldTarget);
});

test('CAs and the service-account key are never renewed', () => {
  const root = fresh();
  for (const name of ['ca', 'etcd-ca', 'sa.key']) {
    const r = kpki(['--root', root, 'renew', name, '--yes']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /never changes/);
  }
});
