// A node as a killed restart leaves it: kube-apiserver's manifest parked by kpki (moved out of the manifests directory,
// recorded in the parked journal) in the middle of a CA rotation, the controller-manager signing from its own
// one-certificate file (ca-signing.crt) while ca.crt holds old + new. The scan must still read the cluster CA from
// ca.crt, the file kube-apiserver's --client-ca-file names, not from the signer's file (found by the lab: a `ca rotate`
// killed at node 2's kube-apiserver restart could not be resumed, node 2 looking like "one CA").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalHost } from '../../src/hosts/local.js';
import { buildControlPlaneNode, makeClusterCas } from '../../src/trees/index.js';
import { scanNode } from '../../src/node/scan/scan.js';
import { PARKED_DIR, PARKED_JOURNAL } from '../../src/node/txn/parked-journal.js';
import { tempRoot } from '../helpers/kpki.js';
import { certificateToPem } from '../../src/pki/certificate.js';

test('scan: a manifest kpki parked still says where the CAs are (the signer’s own file is not the CA file)', async () => {
  const root = tempRoot('kpki-parked-');
  try {
    const [cas, other] = await Promise.all([makeClusterCas(), makeClusterCas()]);
    await buildControlPlaneNode(root, cas, { nodeName: 'cp1', address: '127.0.0.11' });
    const pki = join(root, 'etc/kubernetes/pki');
    const manifests = join(root, 'etc/kubernetes/manifests');
    // mid-rotation: ca.crt is old + new, the controller-manager signs from ca-signing.crt (the old CA alone)
    const oldCa = readFileSync(join(pki, 'ca.crt'));
    writeFileSync(join(pki, 'ca.crt'), Buffer.concat([oldCa, Buffer.from(certificateToPem(other.ca.cert))]));
    writeFileSync(join(pki, 'ca-signing.crt'), oldCa);
    const cm = join(manifests, 'kube-controller-manager.yaml');
    writeFileSync(
      cm,
      readFileSync(cm, 'utf8').replace(
        '--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt',
        '--cluster-signing-cert-file=/etc/kubernetes/pki/ca-signing.crt',
      ),
    );
    assert.match(readFileSync(cm, 'utf8'), /ca-signing\.crt/);
    const host = new LocalHost(root, 'cp1');
    const bundle = async () => {
      const ca = (await scanNode(host)).cas.find((c) => c.name === 'ca')!;
      return { path: ca.certPath, trusted: 1 + (ca.alsoTrusted?.length ?? 0) };
    };
    assert.deepEqual(await bundle(), { path: '/etc/kubernetes/pki/ca.crt', trusted: 2 }, 'every manifest in place');

    // kube-apiserver's manifest parked, as kpki's manifest restart leaves it when killed
    mkdirSync(join(root, PARKED_DIR), { recursive: true });
    renameSync(join(manifests, 'kube-apiserver.yaml'), join(root, PARKED_DIR, 'kube-apiserver.yaml'));
    const entry = {
      from: '/etc/kubernetes/manifests/kube-apiserver.yaml',
      to: `${PARKED_DIR}/kube-apiserver.yaml`,
      at: new Date().toISOString(),
    };
    mkdirSync(join(root, PARKED_JOURNAL, '..'), { recursive: true });
    writeFileSync(join(root, PARKED_JOURNAL), JSON.stringify([entry]));
    assert.deepEqual(await bundle(), { path: '/etc/kubernetes/pki/ca.crt', trusted: 2 }, 'kube-apiserver parked');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
