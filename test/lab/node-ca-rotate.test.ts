// kpki ca rotate --ca ca --restart without -i, one node at a time as an operator without SSH access from one machine
// would run it, on a small 1 + 1 lab of its own (127.0.0.51-52, beside the 3 + 1 lab of cluster.test.ts): the
// control-plane node makes and saves the new CA, the worker is given it. The controller-manager stand-in watches its
// --cluster-signing-cert-file as the real signer does and logs "expected 1 certificate" if it ever reads a bundle
// there; the kubelet stand-in reads clientCAFile only at start and serves its API to kube-apiserver's node proxy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import '../../src/pki/provider.js';
import { assertClusterCaRotated } from '../helpers/ca-rotated.js';
import { Lab, type LabNode } from '../../lab/lab.js';
import { labSkipReason } from '../helpers/lab-tools.js';
import { pemCount, tempFile } from '../helpers/openssl.js';

const skip = labSkipReason();
const KPKI = join(import.meta.dirname, '..', '..', 'dist', 'kpki.js');

test('ca rotate --ca ca --restart node by node (no -i): the controller-manager signs from its own file, restarted, before ca.crt becomes a bundle; the worker with the saved CA; afterwards kubectl and the kubelet API work with the new CA alone', {
  skip,
}, async () => {
  const lab = await Lab.start({ controlPlanes: 1, workers: 1, baseOctet: 50 });
  try {
    const [cp] = lab.controlPlanes;
    const [worker] = lab.workers;
    const manifest = cp.read('/etc/kubernetes/manifests/kube-controller-manager.yaml');
    const oldCa = cp.read('/etc/kubernetes/pki/ca.crt');
    const given = ['--new-ca-cert', '/root/new-ca/ca.crt', '--new-ca-key', '/root/new-ca/ca.key'];
    const rotate = async (node: LabNode, phase: string, extra: string[] = []) => {
      const r = await lab.exec(
        node,
        [process.execPath, KPKI, 'ca', 'rotate', '--ca', 'ca', '--phase', phase, '--yes', '--restart', ...extra],
        300_000,
      );
      assert.equal(r.code, 0, `${node.name} ${phase}: ${r.stdout}${r.stderr}`);
      return r.stdout + r.stderr;
    };

    const trust = await rotate(cp, 'trust', ['--save-ca', '/root/new-ca']);
    assert.match(
      trust,
      /ca trust on .*, first step: kube-controller-manager to sign from \/etc\/kubernetes\/pki\/ca-signing\.crt before \/etc\/kubernetes\/pki\/ca\.crt trusts old \+ new/,
    );
    assert.equal((trust.match(/ca trust written on/g) ?? []).length, 2, `two steps, each written and restarted: ${trust}`);
    assert.equal(pemCount(cp.read('/etc/kubernetes/pki/ca.crt')), 2, 'old + new');
    // the operator carries the saved CA to the worker (it holds no CA key)
    mkdirSync(worker.path('/root/new-ca'), { recursive: true, mode: 0o700 });
    for (const f of ['ca.crt', 'ca.key']) writeFileSync(worker.path(`/root/new-ca/${f}`), cp.read(`/root/new-ca/${f}`), { mode: 0o600 });
    await rotate(worker, 'trust', given);
    await rotate(cp, 'issue');
    await rotate(worker, 'issue', given);
    await rotate(cp, 'verify');
    await rotate(worker, 'verify', given);
    await rotate(cp, 'finish');
    await rotate(worker, 'finish', given);

    const newCa = cp.read('/root/new-ca/ca.crt');
    for (const node of lab.nodes)
      assert.deepEqual(node.read('/etc/kubernetes/pki/ca.crt'), newCa, `${node.name}: ca.crt is the new CA alone`);
    assert.deepEqual(cp.read('/etc/kubernetes/manifests/kube-controller-manager.yaml'), manifest, 'the manifest as kubeadm wrote it');
    await assertClusterCaRotated({
      cp,
      worker,
      newCa,
      oldCa,
      leaves: [
        cp.path('/etc/kubernetes/pki/apiserver.crt'),
        cp.path('/etc/kubernetes/pki/apiserver-kubelet-client.crt'),
        tempFile(worker.read('/var/lib/kubelet/pki/kubelet-client-current.pem')),
      ],
    });
  } finally {
    await lab.stop();
  }
});
