// kpki ca rotate -i --ca ca on the running 3 + 1 lab under load. The cluster CA is trusted everywhere: kube-apiserver's
// --client-ca-file (the stand-in reloads it on change, as kube-apiserver does), the controller-manager's --root-ca-file
// (published as kube-root-ca.crt, read at start), every kubeconfig's CA data, the kubelets (kubelet.conf's CA is read
// at start by the stand-in, as the kubelet builds its client once; its clientCAFile too, which a client of the
// kubelets through kube-apiserver's node proxy exercises under load). The controller-manager stand-in exits when
// --cluster-signing-cert-file holds anything but one certificate, as the real one does. The load's clients follow
// admin.conf on the first node (a kubeconfig kept up to date); the load-balanced one must see zero failures, also
// while the rotation is killed in its trust (the worker), issue and finish (node 2) phases and resumed. Runs last: every suite before it
// works with the lab's first CA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { summarize } from '../../../lab/load.js';
import { kpkiAsync, kpkiKilledWhen } from '../../helpers/kpki.js';
import { kubectl } from '../../helpers/lab-tools.js';
import { pemCount, tempFile, verifiesEach } from '../../helpers/openssl.js';
import { controlPlaneHashes, lab, skip, underLoad } from './shared.js';
import { assertServed } from '../../helpers/load-bounds.js';

const KUBECONFIGS = ['admin.conf', 'super-admin.conf', 'controller-manager.conf', 'scheduler.conf', 'kubelet.conf'];

/** A kubeconfig's CA data and (when embedded) client certificate. */
function kubeconfigParts(text: Buffer): { ca: string; cert?: string } {
  const doc = parse(text.toString());
  const b64 = (v?: string) => (v ? Buffer.from(v, 'base64').toString() : undefined);
  return { ca: b64(doc.clusters[0].cluster['certificate-authority-data']) ?? '', cert: b64(doc.users[0].user['client-certificate-data']) };
}

test('ca rotate -i --ca ca (every phase) under load: zero failed balanced requests; issue refused while a worker does not trust the new CA; every certificate and kubeconfig on every node from the new CA only; the old admin.conf refused, the new one works', {
  skip,
}, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  const [cp1] = cluster.controlPlanes;
  const oldCa = cp1.read('/etc/kubernetes/pki/ca.crt');
  const oldAdmin = cp1.read('/etc/kubernetes/admin.conf');
  const manifests = cluster.controlPlanes.map((n) => n.read('/etc/kubernetes/manifests/kube-controller-manager.yaml'));
  const [w1] = cluster.workers;
  const workerFiles = ['/etc/kubernetes/pki/ca.crt', '/etc/kubernetes/kubelet.conf'];
  const original = workerFiles.map((f) => w1.read(f));
  const trustReport = join(cluster.dir, 'ca-trust-report.json');
  const rotate = async (args: string[]) => {
    const run = await kpkiAsync(['ca', 'rotate', '-i', inventory, '--ca', 'ca', '--yes', ...args]);
    return { status: run.status, out: run.stdout + run.stderr };
  };
  const killedAt = async (when: RegExp, extra: string[] = []) => {
    const args = ['ca', 'rotate', '-i', inventory, '--ca', 'ca', '--yes', '--phase', 'all', ...extra];
    const { out, signal } = await kpkiKilledWhen(args, when);
    assert.equal(signal, 'SIGKILL', `kpki ended before it was killed at ${when}:\n${out}`);
    return out;
  };
  const { value: runs, report } = await underLoad(
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const untouched = controlPlaneHashes();
      const dry = await rotate(['--phase', 'trust', '--dry-run']);
      const dryUnchanged = controlPlaneHashes().every((h, i) => h === untouched[i]);
      const trust = await rotate(['--phase', 'trust', '--report', trustReport]);
      // the worker loses its trust in the new CA (its files as before the rotation, its kubelet not restarted):
      // issue must refuse, nothing written anywhere; the rest of the rotation then continues with the worker
      const trusted = workerFiles.map((f) => w1.read(f));
      for (const [i, f] of workerFiles.entries()) writeFileSync(w1.path(f), original[i]);
      const before = [...controlPlaneHashes(), ...workerFiles.map((f) => w1.read(f).toString('base64'))];
      const refused = await rotate(['--phase', 'issue']);
      const after = [...controlPlaneHashes(), ...workerFiles.map((f) => w1.read(f).toString('base64'))];
      // the rest of the rotation killed three times (SIGKILL, as a crash or a lost operator machine would), the load
      // still running: in trust while the worker's kubelet restarts, in issue while node 2's kube-apiserver restarts,
      // in finish while node 2's controller-manager does
      const trustKilled = await killedAt(/lab-w1: +kubelet: restarting with/);
      const issueKilled = await killedAt(/Resuming the trust phase[\s\S]*lab-cp2: +kube-apiserver: manifest moved to/, ['--resume']);
      const notResumed = await rotate(['--phase', 'all']);
      const finishKilled = await killedAt(/ca issue phase complete[\s\S]*lab-cp2: +kube-controller-manager: manifest moved to/, [
        '--resume',
      ]);
      const rest = await rotate(['--phase', 'all', '--resume']);
      await cluster.waitHealthy(90_000);
      const unchangedByRefusal = after.every((h, i) => h === before[i]);
      return {
        dry,
        dryUnchanged,
        trust,
        trusted,
        refused,
        unchanged: unchangedByRefusal,
        trustKilled,
        issueKilled,
        notResumed,
        finishKilled,
        rest,
      };
    },
    { kubeletProxy: { nodes: cluster.nodes.map((n) => n.name) } },
  );
  console.log(`ca rotate ca: ${summarize(report)}`);
  const {
    dry,
    dryUnchanged,
    trust,
    trusted,
    refused: notYet,
    unchanged,
    trustKilled,
    issueKilled,
    notResumed,
    finishKilled,
    rest: r,
  } = runs;
  assert.equal(dry.status, 0, dry.out);
  assert.match(dry.out, /dry run: nothing was changed; that is the trust phase's first step: the rest is planned once it has run/);
  assert.ok(dryUnchanged, 'the dry run wrote nothing');
  assert.equal(trust.status, 0, trust.out);
  assert.match(trust.out, /ca trust phase complete on 3 control-plane node\(s\) and 1 worker\(s\)/, trust.out);
  // two steps: every controller-manager signs from its own file, restarted, before ca.crt becomes a bundle; one report
  assert.match(trust.out, /ca trust: first step done on 3 control-plane node\(s\), every node healthy; the trust phase continues/);
  const trustJson = JSON.parse(readFileSync(trustReport, 'utf8'));
  assert.equal(trustJson.result, 'complete');
  for (const node of trustJson.nodes.filter((n: { role: string }) => n.role === 'control-plane'))
    assert.equal(node.restarted.filter((c: string) => c === 'kube-controller-manager').length, 2, JSON.stringify(node));
  assert.equal(pemCount(trusted[0]), 2, 'the worker trusted old + new after trust');
  assert.equal(notYet.status, 1, notYet.out);
  assert.match(notYet.out, /Refusing the issue phase of ca: lab-w1 do\(es\) not trust the new CA yet/);
  assert.ok(unchanged, 'the refused issue phase wrote nothing on any node');
  assert.match(trustKilled, /lab-w1 \(worker\): .*restart kubelet/, 'trust continued on the worker');
  assert.match(issueKilled, /Resuming the trust phase of rollout r\S+/);
  // (the kubelet restart the kill interrupted may have finished on the node by itself: then trust has nothing left)
  assert.match(
    issueKilled,
    /ca trust phase complete on 0 control-plane node\(s\) and 1 worker\(s\)|ca trust: every node is done with this phase/,
    issueKilled,
  );
  assert.equal(notResumed.status, 1, notResumed.out);
  assert.match(notResumed.out, /The issue phase of rollout r\S+ .* was interrupted: continue it with --resume/);
  assert.match(finishKilled, /Resuming the issue phase of rollout r\S+ .*lab-cp1 done/);
  // node 1 had finished each phase before its kill: the resumed phase does nodes 2 and 3
  assert.match(finishKilled, /ca issue phase complete on 2 control-plane node\(s\) and 1 worker\(s\)/, finishKilled);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /Resuming the finish phase of rollout r\S+ .*lab-cp1 done/);
  assert.match(r.out, /ca finish phase complete on 2 control-plane node\(s\) and 1 worker\(s\)/, r.out);
  const rest = finishKilled + r.out;
  assert.match(
    rest,
    /ca verified: .* every kube-apiserver serves a chain of the new CA, every worker's kubelet client certificate is from it/,
  );
  // kube-apiserver restarts at trust (twice: its two steps), issue and finish (etcd does not restart for ca)
  assertServed(report, 'ca rotate ca', 4);
  // kube-apiserver → kubelets (node proxy, kubectl logs): every kubelet trusted apiserver-kubelet-client throughout
  const kubelets = report.kubeletProxy!;
  assert.ok(kubelets.ok > 0, 'the kubelet client ran');
  assert.equal(
    kubelets.unauthorized + kubelets.otherErrors,
    0,
    `no kubelet refused kube-apiserver: ${JSON.stringify(report.failures.filter((f) => f.client.startsWith('kubelet')).slice(0, 5))}`,
  );

  const newCa = cp1.read('/etc/kubernetes/pki/ca.crt');
  assert.notDeepEqual(newCa, oldCa);
  assert.equal(new X509Certificate(newCa).subject, new X509Certificate(oldCa).subject, 'the new CA keeps the subject');
  const newCaFile = tempFile(newCa);
  const oldCaFile = tempFile(oldCa);
  // the join command's hash, as openssl computes it from the new CA
  const spki = new X509Certificate(newCa).publicKey.export({ type: 'spki', format: 'der' });
  assert.match(rest, new RegExp(`--discovery-token-ca-cert-hash sha256:${createHash('sha256').update(spki).digest('hex')}\\n`));

  const leaves: { label: string; file: string }[] = [];
  for (const [i, node] of cluster.nodes.entries()) {
    assert.deepEqual(node.read('/etc/kubernetes/pki/ca.crt'), newCa, `${node.name}: ca.crt is the new CA alone`);
    for (const gone of ['ca-next.crt', 'ca-next.key', 'ca-signing.crt'])
      assert.equal(existsSync(node.path(`/etc/kubernetes/pki/${gone}`)), false, `${node.name}: ${gone} is gone`);
    // (kubelet-client-current.pem is a symlink with an absolute target: read inside the node's root)
    leaves.push({ label: `${node.name} kubelet client`, file: tempFile(node.read('/var/lib/kubelet/pki/kubelet-client-current.pem')) });
    for (const name of KUBECONFIGS) {
      if (!existsSync(node.path(`/etc/kubernetes/${name}`))) continue;
      const parts = kubeconfigParts(node.read(`/etc/kubernetes/${name}`));
      assert.equal(parts.ca, newCa.toString(), `${node.name} ${name}: trusts the new CA alone`);
      if (parts.cert) leaves.push({ label: `${node.name} ${name}`, file: tempFile(parts.cert) });
    }
    if (node.role !== 'control-plane') continue;
    assert.ok(
      new X509Certificate(newCa).checkPrivateKey(createPrivateKey(node.read('/etc/kubernetes/pki/ca.key'))),
      `${node.name}: ca.key`,
    );
    assert.deepEqual(node.read('/etc/kubernetes/manifests/kube-controller-manager.yaml'), manifests[i], `${node.name}: manifest as it was`);
    for (const leaf of ['apiserver', 'apiserver-kubelet-client'])
      leaves.push({ label: `${node.name} ${leaf}`, file: node.path(`/etc/kubernetes/pki/${leaf}.crt`) });
    // the controller-manager never saw a bundle in its signing file (it would have logged it, or exited)
    const logs = join(node.dir, 'logs');
    for (const log of readdirSync(logs).filter((f) => f.startsWith('kube-controller-manager')))
      assert.doesNotMatch(readFileSync(join(logs, log), 'utf8'), /expected 1 certificate/, `${node.name} ${log}`);
  }
  const byNew = verifiesEach(leaves.map((l): [string, string] => [newCaFile, l.file]));
  const byOld = verifiesEach(
    leaves.map((l): [string, string] => [oldCaFile, l.file]),
    ['-no_check_time'],
  );
  leaves.forEach((l, i) => {
    assert.ok(byNew[i].ok, `${l.label}: openssl verifies it against the new CA: ${byNew[i].output}`);
    assert.equal(byOld[i].ok, false, `${l.label}: the old CA no longer verifies it`);
  });
  // per control-plane node: apiserver, apiserver-kubelet-client, the kubelet's client, admin, controller-manager and
  // scheduler kubeconfigs (super-admin.conf on the first); the worker's kubelet client
  assert.equal(leaves.length, 3 * 6 + 1 + 1, leaves.map((l) => l.label).join(', '));

  // real kubectl: the new admin.conf works; the old one no longer trusts the server, and its client certificate is refused
  const admin = cp1.path('/etc/kubernetes/admin.conf');
  const nodes = await kubectl(admin, ['get', 'nodes', '-o', 'name']);
  assert.equal(nodes.code, 0, nodes.out);
  assert.equal(nodes.stdout.trim().split('\n').length, 4, nodes.out);
  for (const node of cluster.nodes) {
    const proxied = await kubectl(admin, ['get', '--raw', `/api/v1/nodes/${node.name}/proxy/healthz`]);
    assert.equal(proxied.stdout.trim(), 'ok', `${node.name}'s kubelet through node proxy: ${proxied.out}`);
  }
  const old = tempFile(oldAdmin);
  const untrusted = await kubectl(old, ['get', 'nodes']);
  assert.notEqual(untrusted.code, 0);
  assert.match(untrusted.out, /certificate signed by unknown authority|x509/, untrusted.out);
  const oldClient = parse(oldAdmin.toString());
  oldClient.clusters[0].cluster['certificate-authority-data'] = newCa.toString('base64');
  const oldCredentials = tempFile('');
  writeFileSync(oldCredentials, JSON.stringify(oldClient));
  const refused = await kubectl(oldCredentials, ['get', 'nodes']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.out, /Unauthorized|must be logged in/, refused.out);

  // what pods and kubeadm join read: kube-root-ca.crt (the controller-manager republished it) and cluster-info
  const rootCa = await kubectl(admin, ['get', '--raw', '/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt']);
  assert.equal(JSON.parse(rootCa.stdout).data['ca.crt'], newCa.toString());
  const info = await kubectl(admin, ['get', '--raw', '/api/v1/namespaces/kube-public/configmaps/cluster-info']);
  const published = parse(JSON.parse(info.stdout).data.kubeconfig).clusters[0].cluster['certificate-authority-data'];
  assert.equal(Buffer.from(published, 'base64').toString(), newCa.toString(), 'cluster-info holds the new CA alone');

  const again = await kpkiAsync(['ca', 'rotate', '-i', inventory, '--ca', 'ca', '--phase', 'verify']);
  assert.equal(again.status, 0, again.stdout + again.stderr);
  assert.match(again.stdout + again.stderr, /No rotation of ca in progress: every node trusts one CA/);
});
