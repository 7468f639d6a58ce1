// The certificate catalog: one record per certificate, its tables derived, its consistency checked at load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CERTIFICATES,
  catalogProblems,
  CertificateSpec,
  LEAF_CATALOG,
  MANIFEST_CERT_FLAGS,
  USED_BY,
  EXPIRY_IS_WARNING,
  KUBECONFIG_CATALOG,
  CA_CATALOG,
} from '../../src/kubeadm/catalog.js';

test('the catalog is consistent, and holds what kubeadm certs check-expiration lists (reference §2–3)', () => {
  assert.deepEqual(catalogProblems(CERTIFICATES), []);
  assert.deepEqual(
    CA_CATALOG.map((c) => c.name),
    ['ca', 'etcd-ca', 'front-proxy-ca'],
  );
  assert.deepEqual(LEAF_CATALOG.map((c) => c.name).sort(), [
    'apiserver',
    'apiserver-etcd-client',
    'apiserver-kubelet-client',
    'etcd-healthcheck-client',
    'etcd-peer',
    'etcd-server',
    'front-proxy-client',
  ]);
  assert.deepEqual(
    KUBECONFIG_CATALOG.filter((k) => k.kubeadm).map((k) => k.name),
    ['admin.conf', 'controller-manager.conf', 'scheduler.conf', 'super-admin.conf'],
  );
  // every certificate a static pod names by flag is found through that flag; every leaf with a flag has a key flag
  assert.equal(MANIFEST_CERT_FLAGS['kube-apiserver'].find((f) => f.name === 'apiserver')?.key, 'tls-private-key-file');
  assert.deepEqual(USED_BY['etcd-peer'], ['etcd']);
  assert.deepEqual([...EXPIRY_IS_WARNING], ['kubelet-serving']);
});

test('a wrong record is named: twice listed, an unknown CA, a leaf flag without its key, a user left out', () => {
  const bad: CertificateSpec[] = [
    { name: 'ca', kind: 'ca', file: 'ca', usedBy: [] },
    {
      name: 'apiserver',
      kind: 'leaf',
      file: 'apiserver',
      ca: 'ca',
      usedBy: ['kube-apiserver'],
      flags: [{ component: 'kube-apiserver', cert: 'tls-cert-file' }],
    },
    {
      name: 'apiserver',
      kind: 'leaf',
      file: 'x',
      ca: 'nope',
      usedBy: [],
      flags: [{ component: 'etcd', cert: 'cert-file', key: 'key-file' }],
    },
    { name: 'odd', kind: 'kubeconfig', usedBy: [] },
  ];
  assert.deepEqual(catalogProblems(bad), [
    'apiserver: --tls-cert-file without its key flag',
    'apiserver: listed twice',
    'apiserver: signed by nope, which is no CA of the catalog',
    'apiserver: etcd names it (--cert-file) but is not among its users',
    'odd: no file',
  ]);
});
