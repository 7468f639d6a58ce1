// Rolling renewal of the whole lab from this machine over SSH (kpki renew -i): one control-plane node at a time
// behind health gates, then the worker (the seed's method, every node at once, is measured beside it in
// `npm run bench:cluster`, not here); a rollout whose gate fails on node 2 stops there, rolled back; a rollout killed in the middle of
// node 2 is finished by --resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import type { LabNode } from '../../../lab/lab.js';
import { Load, summarize } from '../../../lab/load.js';
import { hashTree, kpkiAsync, kpkiKilledWhen } from '../../helpers/kpki.js';
import { kubectl } from '../../helpers/lab-tools.js';
import { lab, skip } from './shared.js';
import { assertServed } from '../../helpers/load-bounds.js';

const DAY = 86_400_000;

function servedSerial(node: LabNode, port = 6443): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: node.address, port, rejectUnauthorized: false, timeout: 3000 }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

const fileSerial = (node: LabNode, path: string) => new X509Certificate(node.read(path)).serialNumber;

/** Backups a rollout left on a node (their manifests name the rollout). */
function rolloutBackups(node: LabNode, rollout: string): string[] {
  const dir = node.path('/var/lib/kpki/backups');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((id) => {
    try {
      return JSON.parse(readFileSync(join(dir, id, 'manifest.json'), 'utf8')).reason.includes(rollout);
    } catch {
      return false;
    }
  });
}

/** Every certificate of every node expiring in 10 days, loaded by the running components. */
async function expireSoon(): Promise<void> {
  const cluster = lab();
  for (const n of cluster.nodes)
    await n.reissue('all', { notBefore: new Date(Date.now() - 355 * DAY), notAfter: new Date(Date.now() + 10 * DAY) });
  await Promise.all(cluster.controlPlanes.map((n) => n.restartAllPods()));
  await cluster.waitHealthy(90_000);
}

test('renew -i: certificates expiring in 10 days renewed node by node under load, zero failed balanced requests', {
  skip,
}, async () => {
  const cluster = lab();
  await expireSoon();
  const inventory = cluster.writeInventory();

  const dry = await kpkiAsync(['renew', '-i', inventory, 'all', '--if-expires-within', '30d', '--dry-run']);
  assert.equal(dry.status, 0, dry.stdout + dry.stderr);
  assert.match(dry.stdout, /== lab-w1 \(127\.0\.0\.14, worker\): kubelet client certificate expires .*: will be renewed/);
  assert.match(dry.stdout, /\(dry run: nothing was changed\)/);

  // the operator's kubeconfig: this cluster's admin (expiring) next to another cluster's context
  const operatorKubeconfig = join(cluster.dir, 'operator-kubeconfig');
  writeFileSync(
    operatorKubeconfig,
    cluster
      .node(1)
      .read('/etc/kubernetes/admin.conf')
      .toString()
      .replace('contexts:\n', 'contexts:\n- context: {cluster: kubernetes, user: dev}\n  name: dev\n')
      .replace('users:\n', 'users:\n- name: dev\n  user: {token: dev-token}\n'),
    { mode: 0o600 },
  );
  const reportFile = join(cluster.dir, 'rollout-report.json');

  const load = Load.start(cluster, { durationMs: 600_000 });
  await new Promise((r) => setTimeout(r, 1000));
  const started = Date.now();
  const r = await kpkiAsync([
    'renew',
    '-i',
    inventory,
    'all',
    '--if-expires-within',
    '30d',
    '--yes',
    '--report',
    reportFile,
    '--update-kubeconfig',
    operatorKubeconfig,
  ]);
  const seconds = (Date.now() - started) / 1000;
  await cluster.waitHealthy(90_000);
  const report = await load.finish();
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /\[1\/3\] lab-cp1[\s\S]*\[2\/3\] lab-cp2[\s\S]*\[3\/3\] lab-cp3[\s\S]*lab-w1: +kubelet client certificate renewed[\s\S]*Rollout r\S+ complete/,
  );
  // etcd re-reads its serving and peer certificates: verified, not restarted; the rest restarted
  assert.match(r.stdout, /lab-cp2: +etcd: serves the renewed certificates without a restart/);
  assert.match(r.stdout, /lab-w1: +node lab-w1: Ready; kubelet last seen/);
  assertServed(report, 'renew -i', 1);
  // the longest time without a balanced answer: when nothing failed, a write and its read that each took every
  // attempt (3 of up to 2 s, 100 and 200 ms apart) bound it; more would be requests that hung without failing
  assert.ok(report.balanced.longestGapMs < 2 * (3 * 2000 + 300) + 500, summarize(report));
  for (const node of cluster.controlPlanes) {
    assert.equal(
      await servedSerial(node),
      fileSerial(node, '/etc/kubernetes/pki/apiserver.crt'),
      `${node.name}'s API server serves its renewed certificate`,
    );
    assert.equal(
      await servedSerial(node, 2379),
      fileSerial(node, '/etc/kubernetes/pki/etcd/server.crt'),
      `${node.name}'s etcd serves its renewed certificate`,
    );
    assert.ok(
      new X509Certificate(node.read('/etc/kubernetes/pki/apiserver.crt')).validTo.includes(
        String(new Date(Date.now() + 365 * DAY).getUTCFullYear()),
      ),
    );
    assert.equal(existsSync(node.path('/var/lib/kpki/rollout.json')), false, `${node.name}: journal removed at the end`);
  }
  // the report: every node, old and new expiry of what changed
  const json = JSON.parse(readFileSync(reportFile, 'utf8'));
  assert.equal(json.result, 'complete');
  assert.deepEqual(
    json.nodes.map((n: { node: string; outcome: string }) => `${n.node} ${n.outcome}`),
    ['lab-cp1 renewed', 'lab-cp2 renewed', 'lab-cp3 renewed', 'lab-w1 renewed'],
  );
  const api = json.nodes[1].certificates.find((c: { name: string }) => c.name === 'apiserver');
  assert.ok(Date.parse(api.newNotAfter) - Date.parse(api.oldNotAfter) > 300 * DAY, JSON.stringify(api));
  assert.deepEqual(json.nodes[1].reloaded, ['etcd']);
  assert.equal(rolloutBackups(cluster.node(2), json.rollout).length, 1);
  // the operator's kubeconfig works with the renewed credentials and kept its other context
  assert.match(r.stdout, /operator-kubeconfig from lab-cp1:\/etc\/kubernetes\/admin\.conf/);
  const op = readFileSync(operatorKubeconfig, 'utf8');
  assert.match(op, /token: dev-token/);
  assert.equal(
    (await kubectl(operatorKubeconfig, ['--context', 'kubernetes-admin@kubernetes', 'get', '--raw', '/readyz'])).out.trim(),
    'ok',
  );

  console.log(`kpki renew -i (${seconds.toFixed(1)} s): ${summarize(report)}`);
});

test('renew -i: a gate that fails on node 2 stops the rollout there, node 2 rolled back, node 3 untouched', { skip }, async () => {
  const cluster = lab();
  const [cp1, cp2, cp3] = cluster.controlPlanes;
  const before2 = hashTree(cp2.path('/etc/kubernetes'));
  const before3 = hashTree(cp3.path('/etc/kubernetes'));
  const reportFile = join(cluster.dir, 'failed-report.json');
  // Test hook (on this machine, where kpki signs): renewed certificates lose 127.0.0.12 from their SANs.
  const r = await kpkiAsync(['renew', '-i', cluster.writeInventory(), 'apiserver', '--yes', '--timeout', '15s', '--report', reportFile], {
    KPKI_TEST_DROP_SAN: cp2.address,
  });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /lab-cp1: RENEWED: in [\d.]+ s; every control-plane node healthy/);
  assert.match(r.stdout, /Rollout STOPPED at lab-cp2 \(rolled back to its backup\)\. Not touched: lab-cp3\./);
  assert.equal(hashTree(cp2.path('/etc/kubernetes')), before2, 'node 2 as it was');
  assert.equal(hashTree(cp3.path('/etc/kubernetes')), before3, 'node 3 untouched');
  const json = JSON.parse(readFileSync(reportFile, 'utf8'));
  assert.equal(json.result, 'stopped');
  assert.deepEqual(
    json.nodes.map((n: { outcome: string }) => n.outcome),
    ['renewed', 'rolled-back', 'not-touched', 'unchanged'],
  );
  assert.match(json.nodes[1].detail, /does not name this address/);
  for (const node of cluster.nodes)
    assert.equal(existsSync(node.path('/var/lib/kpki/rollout.json')), false, `${node.name}: a clean stop leaves no journal`);
  // node 1 keeps its renewal and serves it; node 2 serves its old certificate again (the backup)
  assert.equal(await servedSerial(cp1), fileSerial(cp1, '/etc/kubernetes/pki/apiserver.crt'));
  assert.equal(await servedSerial(cp2), fileSerial(cp2, '/etc/kubernetes/pki/apiserver.crt'));
  await cluster.waitHealthy(60_000);
});

test('renew -i killed in the middle of node 2 (a manifest parked): a new rollout is refused, --resume finishes it, nothing done twice', {
  skip,
}, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  const args = ['renew', '-i', inventory, 'apiserver-etcd-client', 'controller-manager.conf', '--yes'];
  const { out, signal } = await kpkiKilledWhen(args, /lab-cp2: +kube-apiserver: manifest moved to/);
  assert.equal(signal, 'SIGKILL', `kpki ended before it was killed:\n${out}`);
  const rollout: string = JSON.parse(readFileSync(cluster.node(2).path('/var/lib/kpki/rollout.json'), 'utf8')).rollout;
  assert.ok(rollout, 'node 2 keeps the rollout journal');

  const again = await kpkiAsync(args);
  assert.equal(again.status, 1, again.stdout + again.stderr);
  assert.match(
    again.stdout,
    new RegExp(`An interrupted rollout ${rollout} .* left its journal on lab-cp1, lab-cp2, lab-cp3, lab-w1: continue it with --resume`),
  );

  const resumed = await kpkiAsync(['renew', '-i', inventory, '--resume', '--yes', '--report', join(cluster.dir, 'resume-report.json')]);
  assert.equal(resumed.status, 0, resumed.stdout + resumed.stderr);
  assert.match(resumed.stdout, new RegExp(`Resuming rollout ${rollout} .*: lab-cp1 done, lab-cp2 written, lab-cp3 pending, lab-w1 done`));
  assert.match(resumed.stdout, /lab-cp2: +moved \/etc\/kubernetes\/manifests\/kube-apiserver\.yaml back into place/);
  await cluster.waitHealthy(60_000);
  // each node renewed exactly once (one backup of this rollout), every node serving / using the renewed files
  for (const node of cluster.controlPlanes) {
    assert.equal(rolloutBackups(node, rollout).length, 1, `${node.name}: renewed once`);
    assert.equal(existsSync(node.path('/var/lib/kpki/rollout.json')), false);
    assert.equal(existsSync(node.path('/etc/kubernetes/manifests/kube-apiserver.yaml')), true);
  }
  const json = JSON.parse(readFileSync(join(cluster.dir, 'resume-report.json'), 'utf8'));
  assert.equal(json.resumed, true);
  assert.deepEqual(
    json.nodes.map((n: { outcome: string; resumed?: boolean }) => `${n.outcome}${n.resumed ? ' (before)' : ''}`),
    ['renewed (before)', 'renewed', 'renewed', 'unchanged'],
  );
  const nothing = await kpkiAsync(['renew', '-i', inventory, '--resume', '--yes']);
  assert.match(nothing.stdout, /No interrupted rollout on these nodes: nothing to resume/);
});
