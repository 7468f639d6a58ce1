// The lab builds trees that pass the same openssl checks as real kubeadm trees, in every flavour.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildControlPlaneNode, buildWorkerNode, makeClusterCas } from '../../src/trees/index.js';
import { kpki, removeTree, tempRoot } from '../helpers/kpki.js';
import { publicKeyOfCert, publicKeyOfKey, verifies } from '../helpers/openssl.js';

const roots: string[] = [];
after(() => roots.forEach(removeTree));

const LEAVES: [string, string][] = [
  ['apiserver', 'ca'],
  ['apiserver-kubelet-client', 'ca'],
  ['front-proxy-client', 'front-proxy-ca'],
  ['apiserver-etcd-client', 'etcd/ca'],
  ['etcd/server', 'etcd/ca'],
  ['etcd/peer', 'etcd/ca'],
  ['etcd/healthcheck-client', 'etcd/ca'],
];

for (const flavour of ['1.29', '1.18', '1.11'] as const) {
  test(`lab ${flavour} control-plane tree: openssl verifies every leaf, keys match, kpki check is clean`, async () => {
    const root = tempRoot();
    roots.push(root);
    const cas = await makeClusterCas({ legacyNames: flavour === '1.11', zeroSerial: flavour !== '1.29' });
    await buildControlPlaneNode(root, cas, { nodeName: 'cp1', address: '127.0.0.41', flavour });
    const pki = join(root, 'etc/kubernetes/pki');
    for (const [leaf, ca] of LEAVES) {
      const v = verifies(join(pki, `${ca}.crt`), join(pki, `${leaf}.crt`));
      assert.ok(v.ok, `${leaf}: ${v.output}`);
      assert.equal(publicKeyOfCert(join(pki, `${leaf}.crt`)), publicKeyOfKey(join(pki, `${leaf}.key`)));
    }
    if (flavour === '1.11') {
      // front-proxy-ca shares CN=kubernetes with ca: openssl must not take one for the other
      assert.equal(verifies(join(pki, 'ca.crt'), join(pki, 'front-proxy-client.crt')).ok, false);
    }
    const check = kpki(['--root', root, 'check', '-o', 'json']);
    assert.equal(check.status, 0, check.stdout + check.stderr);
    const names = JSON.parse(check.stdout).certificates.map((c: { name: string }) => c.name);
    assert.ok(names.includes(flavour === '1.11' ? 'kubelet.conf' : 'kubelet-client'));
    assert.equal(names.includes('super-admin.conf'), flavour === '1.29');
  });
}

test('lab worker node: only kubelet files and ca.crt, a normal case for check and renew', async () => {
  const root = tempRoot();
  roots.push(root);
  const cas = await makeClusterCas();
  await buildWorkerNode(root, cas, { nodeName: 'w1', address: '127.0.0.42' });
  const check = kpki(['--root', root, 'check', '-o', 'json']);
  assert.equal(check.status, 0, check.stderr);
  const info = JSON.parse(check.stdout);
  assert.deepEqual(info.certificates.map((c: { name: string }) => c.name).sort(), ['kubelet-client', 'kubelet-serving']);
  const renew = kpki(['--root', root, 'renew', 'kubelet-client', '--yes']);
  assert.match(renew.stderr, /CA key of ca is absent/);
  assert.notEqual(renew.status, 0);
  assert.ok(readdirSync(join(root, 'var/lib/kubelet/pki')).length >= 3);
});
