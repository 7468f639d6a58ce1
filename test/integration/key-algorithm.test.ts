// renew --key-algorithm moves a node's certificates to another key type (openssl reads the keys) and records
// encryptionAlgorithm where kubeadm 1.31+ (v1beta4) reads it, so that kubeadm's own renewals agree; an older
// configuration (no such field) is left as it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashTree, kpki } from '../helpers/kpki.js';
import { sharedHealthyNode } from '../helpers/lab.js';
import { verifies } from '../helpers/openssl.js';

const { fresh } = sharedHealthyNode();
const PKI = 'etc/kubernetes/pki';
const config = (apiVersion: string) =>
  `apiVersion: kubeadm.k8s.io/${apiVersion}\nkind: ClusterConfiguration\n# keys of kubeadm's certificates\nencryptionAlgorithm: ECDSA-P256\ncertificatesDir: /etc/kubernetes/pki\n`;
/** The key's curve as openssl names it, or an RSA key's size in bits. */
const keyType = (file: string) => {
  const text = spawnSync('openssl', ['pkey', '-in', file, '-noout', '-text'], { encoding: 'utf8' }).stdout;
  return /ASN1 OID: (\S+)/.exec(text)?.[1] ?? /Private-Key: \((\d+) bit/.exec(text)?.[1];
};

test('renew all --key-algorithm RSA-2048: new RSA keys, verified by openssl; a v1beta4 ClusterConfiguration records encryptionAlgorithm, comments kept', () => {
  const root = fresh();
  const file = join(root, 'etc/kubernetes/kubeadm-config.yaml');
  writeFileSync(file, config('v1beta4'));
  assert.equal(keyType(join(root, PKI, 'apiserver.key')), 'prime256v1');
  const r = kpki(['--root', root, 'renew', 'all', '--key-algorithm', 'RSA-2048', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Also records encryptionAlgorithm: RSA-2048 in \/etc\/kubernetes\/kubeadm-config\.yaml/);
  for (const base of ['apiserver', 'front-proxy-client', 'etcd/server']) {
    assert.equal(keyType(join(root, PKI, `${base}.key`)), '2048', base);
    assert.ok(
      verifies(
        join(root, PKI, base.startsWith('etcd') ? 'etcd/ca.crt' : base.startsWith('front') ? 'front-proxy-ca.crt' : 'ca.crt'),
        join(root, PKI, `${base}.crt`),
      ).ok,
      base,
    );
  }
  assert.equal(readFileSync(file, 'utf8'), config('v1beta4').replace('encryptionAlgorithm: ECDSA-P256', 'encryptionAlgorithm: RSA-2048'));
});

test('renew --key-algorithm with a v1beta3 ClusterConfiguration (no encryptionAlgorithm field): the file stays as it is', () => {
  const root = fresh();
  const file = join(root, 'etc/kubernetes/kubeadm-config.yaml');
  writeFileSync(file, config('v1beta3'));
  const before = hashTree(join(root, 'etc/kubernetes'), [
    'pki',
    'admin.conf',
    'super-admin.conf',
    'controller-manager.conf',
    'scheduler.conf',
    'kubelet.conf',
  ]);
  const r = kpki(['--root', root, 'renew', 'apiserver', '--key-algorithm', 'ECDSA-P384', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /Also records encryptionAlgorithm/);
  assert.equal(keyType(join(root, PKI, 'apiserver.key')), 'secp384r1');
  assert.equal(readFileSync(file, 'utf8'), config('v1beta3'));
  assert.equal(
    hashTree(join(root, 'etc/kubernetes'), [
      'pki',
      'admin.conf',
      'super-admin.conf',
      'controller-manager.conf',
      'scheduler.conf',
      'kubelet.conf',
    ]),
    before,
  );
});
