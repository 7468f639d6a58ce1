// kpki ca rotate -i --ca ca killed (SIGKILL, as a crash or a lost operator machine would) in the middle of each
// writing phase, on a small 1 + 1 lab of its own (127.0.0.61-62, beside the 3 + 1 lab of cluster.test.ts; with one
// control-plane node the API is down while it restarts, and serving throughout is the 3 + 1 lab's test): in the
// trust phase's first step (the controller-manager moved to its own signing file) and in its second (ca.crt becomes
// old + new), at the worker's kubelet restart in the issue phase, and in the finish phase. Each time a new run is
// refused without --resume and --resume completes the phase; afterwards every node trusts the new CA alone, the
// manifests are as kubeadm wrote them, and the controller-manager never read a bundle as its signing certificate.
// (Two control-plane nodes would not do: a two-member etcd has no member to spare, and kpki refuses to start.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import '../../src/pki/provider.js';
import { assertClusterCaRotated } from '../helpers/ca-rotated.js';
import { Lab, zombiesOf } from '../../lab/lab.js';
import { kpkiAsync, kpkiKilledWhen } from '../helpers/kpki.js';
import { apiUrl, eventually, kubectl, labSkipReason } from '../helpers/lab-tools.js';
import { pemCount, tempFile } from '../helpers/openssl.js';

const skip = labSkipReason();

test('ca rotate -i --ca ca killed in each writing phase (both steps of trust, a worker in issue, finish): refused without --resume, completed with it; the new CA alone everywhere afterwards', {
  skip,
}, async () => {
  const lab = await Lab.start({ controlPlanes: 1, workers: 1, baseOctet: 60 });
  try {
    const inventory = lab.writeInventory();
    const [cp1] = lab.controlPlanes;
    const [worker] = lab.workers;
    const manifests = lab.controlPlanes.map((n) => n.read('/etc/kubernetes/manifests/kube-controller-manager.yaml'));
    const oldCa = cp1.read('/etc/kubernetes/pki/ca.crt');
    const rotate = async (args: string[]) => {
      const r = await kpkiAsync(['ca', 'rotate', '-i', inventory, '--ca', 'ca', '--yes', ...args]);
      return { status: r.status, out: r.stdout + r.stderr };
    };
    const killedAt = async (args: string[], when: RegExp) => {
      const { out, signal } = await kpkiKilledWhen(['ca', 'rotate', '-i', inventory, '--ca', 'ca', '--yes', ...args], when);
      assert.equal(signal, 'SIGKILL', `kpki ended before it was killed at ${when}:\n${out}`);
      return out;
    };

    // trust, first step: killed while the controller-manager restarts to sign from ca-signing.crt
    await killedAt(['--phase', 'trust'], /lab-cp1: +kube-controller-manager: manifest moved to/);
    const refused = await rotate(['--phase', 'trust']);
    assert.equal(refused.status, 1, refused.out);
    assert.match(refused.out, /The trust phase of rollout r\S+ .* was interrupted: continue it with --resume/);
    // resumed: the first step finished, then the second step (old + new) begins; killed again in it
    const resumedOnce = await killedAt(
      ['--phase', 'trust', '--resume'],
      /continues[\s\S]*lab-cp1: +kube-controller-manager: manifest moved to/,
    );
    assert.match(resumedOnce, /Resuming the trust phase of rollout r\S+/);
    assert.match(resumedOnce, /lab-cp1: +moved \/etc\/kubernetes\/manifests\/kube-controller-manager\.yaml back into place/);
    assert.match(resumedOnce, /ca trust: first step done on 1 control-plane node\(s\), every node healthy; the trust phase continues/);
    const trust = await rotate(['--phase', 'trust', '--resume']);
    assert.equal(trust.status, 0, trust.out);
    assert.match(trust.out, /Resuming the trust phase of rollout r\S+/);
    assert.doesNotMatch(trust.out, /First step of the trust phase/, 'the second step resumed is not a first step again');
    assert.match(trust.out, /ca trust phase complete on 1 control-plane node\(s\) and 1 worker\(s\)/, trust.out);
    for (const node of lab.nodes) assert.equal(pemCount(node.read('/etc/kubernetes/pki/ca.crt')), 2, `${node.name}: old + new`);

    // issue: killed while the worker's kubelet restarts with its new client certificate; refused without --resume
    await killedAt(['--phase', 'issue'], /lab-w1: +kubelet: restarting with/);
    const issueRefused = await rotate(['--phase', 'issue']);
    assert.equal(issueRefused.status, 1, issueRefused.out);
    assert.match(issueRefused.out, /The issue phase of rollout r\S+ .* was interrupted: continue it with --resume/);
    const issued = await rotate(['--phase', 'issue', '--resume']);
    assert.equal(issued.status, 0, issued.out);
    assert.match(issued.out, /Resuming the issue phase of rollout r\S+ .*lab-cp1 done/);

    // finish: killed at the controller-manager's restart (back to ca.crt); --phase all --resume skips what is done
    await killedAt(['--phase', 'finish'], /lab-cp1: +kube-controller-manager: manifest moved to/);
    const finishRefused = await rotate(['--phase', 'finish']);
    assert.equal(finishRefused.status, 1, finishRefused.out);
    assert.match(finishRefused.out, /The finish phase of rollout r\S+ .* was interrupted: continue it with --resume/);
    const rest = await rotate(['--phase', 'all', '--resume']);
    assert.equal(rest.status, 0, rest.out);
    assert.match(rest.out, /Resuming the finish phase of rollout r\S+/);
    assert.match(rest.out, /ca finish phase complete on 1 control-plane node\(s\) and 1 worker\(s\)/, rest.out);
    await lab.waitHealthy(90_000);

    const newCa = cp1.read('/etc/kubernetes/pki/ca.crt');
    assert.equal(pemCount(newCa), 1);
    assert.notDeepEqual(newCa, oldCa);
    for (const node of lab.nodes) {
      assert.deepEqual(node.read('/etc/kubernetes/pki/ca.crt'), newCa, `${node.name}: the new CA alone`);
      assert.equal(existsSync(node.path('/var/lib/kpki/rollout.json')), false, `${node.name}: no rollout journal left`);
      assert.equal(existsSync(node.path('/var/lib/kpki/journal.json')), false, `${node.name}: no write journal left`);
    }
    for (const [i, node] of lab.controlPlanes.entries()) {
      assert.deepEqual(node.read('/etc/kubernetes/manifests/kube-controller-manager.yaml'), manifests[i], `${node.name}: manifest`);
      assert.equal(existsSync(node.path('/etc/kubernetes/pki/ca-signing.crt')), false, `${node.name}: ca-signing.crt removed`);
    }
    await assertClusterCaRotated({
      cp: cp1,
      worker,
      newCa,
      oldCa,
      leaves: [
        ...lab.controlPlanes.flatMap((n) => ['apiserver', 'apiserver-kubelet-client'].map((c) => n.path(`/etc/kubernetes/pki/${c}.crt`))),
        tempFile(worker.read('/var/lib/kubelet/pki/kubelet-client-current.pem')),
      ],
    });
    const admin = cp1.path('/etc/kubernetes/admin.conf');

    // cluster-info left with old + new (as by a run that ended after the last node): a finish run with every node done
    // still publishes the new CA alone there
    const CLUSTER_INFO = '/api/v1/namespaces/kube-public/configmaps/cluster-info';
    const publishedCa = async () => {
      const got = await kubectl(admin, ['get', '--raw', CLUSTER_INFO], apiUrl(cp1));
      assert.equal(got.code, 0, got.out);
      const doc = parse(JSON.parse(got.stdout).data.kubeconfig);
      return Buffer.from(doc.clusters[0].cluster['certificate-authority-data'], 'base64').toString();
    };
    assert.equal(await publishedCa(), newCa.toString(), 'the rotation published the new CA alone');
    const got = JSON.parse((await kubectl(admin, ['get', '--raw', CLUSTER_INFO], apiUrl(cp1))).stdout);
    const stale = parse(got.data.kubeconfig);
    stale.clusters[0].cluster['certificate-authority-data'] = Buffer.concat([oldCa, newCa]).toString('base64');
    const staleFile = tempFile(JSON.stringify({ ...got, data: { ...got.data, kubeconfig: stringify(stale) } }));
    const put = await kubectl(admin, ['replace', '--raw', CLUSTER_INFO, '-f', staleFile], apiUrl(cp1));
    assert.equal(put.code, 0, put.out);
    assert.equal(pemCount(await publishedCa()), 2, 'made stale by hand');
    const again = await rotate(['--phase', 'finish']);
    assert.equal(again.status, 0, again.out);
    assert.match(again.out, /nothing to do/, again.out);
    assert.match(again.out, /kube-public\/cluster-info \(kubeadm join discovery\): updated/, again.out);
    assert.equal(await publishedCa(), newCa.toString(), 'cluster-info holds the new CA alone again');

    // after a few hundred SSH sessions, no node keeps exited processes around (its init, tini, reaps them)
    // (an SSH session's processes that ended a moment ago may not be reaped yet: none may stay)
    for (const node of lab.nodes) {
      await eventually(
        `${node.name} without zombies`,
        async () => zombiesOf(node),
        (z) => z.length === 0,
        10_000,
      ).catch(() => undefined);
      assert.deepEqual(zombiesOf(node), [], `${node.name}: zombies`);
    }
  } finally {
    await lab.stop();
  }
});
