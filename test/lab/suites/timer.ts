// The renewal timer's run (`kpki timer run`, what kpki-renew.service executes) started on every control-plane node
// at the same moment, under load: the lock in the cluster's etcd serializes them (never two nodes renewing and
// restarting at once), zero failed balanced requests, every node renewed and its timer state recorded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { Load, summarize } from '../../../lab/load.js';
import { KPKI, kpkiAsync } from '../../helpers/kpki.js';
import { kubectl } from '../../helpers/lab-tools.js';
import { lab, skip } from './shared.js';
import { assertServed } from '../../helpers/load-bounds.js';

const DAY = 86_400_000;

test('timer run on all three control-plane nodes at the same second: one node at a time through the etcd lock, zero failed balanced requests', {
  skip,
}, async () => {
  const cluster = lab();
  for (const n of cluster.nodes)
    await n.reissue('all', { notBefore: new Date(Date.now() - 355 * DAY), notAfter: new Date(Date.now() + 10 * DAY) });
  await Promise.all(cluster.controlPlanes.map((n) => n.restartAllPods()));
  await cluster.waitHealthy(90_000);
  const load = Load.start(cluster, { durationMs: 600_000 });
  await new Promise((r) => setTimeout(r, 1000));
  const runs = await Promise.all(
    cluster.controlPlanes.map((n) =>
      cluster.exec(
        n,
        [process.execPath, KPKI, 'timer', 'run', '--renew-within', '30d', '--retry', '1s', '--max-wait', '10m', '--timeout', '2m'],
        900_000,
      ),
    ),
  );
  await cluster.waitHealthy(90_000);
  const report = await load.finish();
  console.log(`timer run on 3 nodes at once: ${summarize(report)}`);
  const windows = runs.map((r, i) => {
    assert.equal(r.code, 0, `${cluster.controlPlanes[i].name}: ${r.stdout}${r.stderr}`);
    const acquired = /^(\S+) lock acquired: (lab-cp\d)/m.exec(r.stdout);
    const released = /^(\S+) lock released/m.exec(r.stdout);
    assert.ok(acquired && released, r.stdout);
    assert.equal(acquired[2], cluster.controlPlanes[i].name);
    return { node: acquired[2], from: Date.parse(acquired[1]), to: Date.parse(released[1]) };
  });
  windows.sort((a, b) => a.from - b.from);
  for (let i = 1; i < windows.length; i++)
    assert.ok(
      windows[i].from >= windows[i - 1].to,
      `${windows[i].node} started renewing before ${windows[i - 1].node} had finished: ${JSON.stringify(windows)}`,
    );
  assert.ok(runs.filter((r) => /waiting: another node renews now/.test(r.stdout)).length >= 1, 'a node waited for another');
  assertServed(report, 'timer run on 3 nodes at once', 1);
  for (const node of cluster.controlPlanes) {
    assert.ok(
      new X509Certificate(node.read('/etc/kubernetes/pki/apiserver.crt')).validTo.includes(
        String(new Date(Date.now() + 365 * DAY).getUTCFullYear()),
      ),
      node.name,
    );
    const state = JSON.parse(node.read('/var/lib/kpki/timer-state.json').toString());
    assert.equal(state.lastResult, 'success', JSON.stringify(state));
  }
  // what the exporter tells about it
  const metrics = await kpkiAsync(['exporter', '-i', cluster.writeInventory(), '--once']);
  assert.equal(metrics.status, 0, metrics.stderr);
  for (const node of cluster.controlPlanes)
    assert.match(metrics.stdout, new RegExp(`^kpki_renewal_last_success\\{node="${node.name}"\\} 1$`, 'm'));
  // the next run has nothing to do and says so
  const again = await cluster.exec(cluster.node(1), [process.execPath, KPKI, 'timer', 'run', '--renew-within', '30d']);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /result: nothing-to-do/);
  // the worker's kubelet certificate is not the timer's (no CA key there): kubelet renew -i puts it right
  await cluster.workers[0].reissue(['kubelet-client'], {
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 365 * DAY),
  });
});

test('the in-cluster agent (kpki agent --once) on all three control-plane nodes at once: serialized by a coordination.k8s.io Lease', {
  skip,
}, async () => {
  const cluster = lab();
  for (const n of cluster.controlPlanes)
    await n.reissue(['apiserver'], { notBefore: new Date(Date.now() - 355 * DAY), notAfter: new Date(Date.now() + 10 * DAY) });
  await cluster.waitHealthy(60_000);
  // outside a pod the agent takes its API credentials from a kubeconfig (in a pod: its service account)
  const runs = await Promise.all(
    cluster.controlPlanes.map((n) =>
      cluster.exec(
        n,
        [
          process.execPath,
          KPKI,
          'agent',
          '--once',
          '--kubeconfig',
          '/etc/kubernetes/admin.conf',
          '--node-name',
          n.name,
          '--renew-within',
          '30d',
          '--retry',
          '1s',
          '--lease-duration',
          '20s',
        ],
        600_000,
      ),
    ),
  );
  const windows = runs.map((r, i) => {
    assert.equal(r.code, 0, `${cluster.controlPlanes[i].name}: ${r.stdout}${r.stderr}`);
    const acquired = /^(\S+) lock acquired: (lab-cp\d)/m.exec(r.stdout)!;
    assert.ok(acquired, r.stdout);
    return { node: acquired[2], from: Date.parse(acquired[1]), to: Date.parse(/^(\S+) lock released/m.exec(r.stdout)![1]) };
  });
  windows.sort((a, b) => a.from - b.from);
  for (let i = 1; i < windows.length; i++) assert.ok(windows[i].from >= windows[i - 1].to, JSON.stringify(windows));
  assert.ok(
    runs.some((r) => /waiting: another node renews now: lab-cp\d/.test(r.stdout)),
    'a node waited for the lease',
  );
  for (const n of cluster.controlPlanes)
    assert.ok(
      new X509Certificate(n.read('/etc/kubernetes/pki/apiserver.crt')).validTo.includes(
        String(new Date(Date.now() + 365 * DAY).getUTCFullYear()),
      ),
      n.name,
    );
  const lease = await kubectl(cluster.adminKubeconfig, [
    'get',
    '--raw',
    '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kpki-renewal',
  ]);
  const spec = JSON.parse(lease.out).spec;
  assert.equal(spec.holderIdentity ?? null, null, 'given up at the end');
  assert.ok(spec.leaseTransitions >= 2, JSON.stringify(spec));
  await cluster.waitHealthy(60_000);
});

test('timer run when the cluster lock cannot be reached (the etcd client certificate on disk has expired): per-node time slots in etcd member order, never two nodes at once', {
  skip,
}, async () => {
  const cluster = lab();
  // the files expire; the running API servers keep the (valid) certificate they loaded at start, as kube-apiserver does
  for (const n of cluster.controlPlanes)
    await n.reissue(['apiserver-etcd-client'], { notBefore: new Date(Date.now() - 366 * DAY), notAfter: new Date(Date.now() - DAY) });
  await cluster.waitHealthy(60_000);
  // a node's renewal here (apiserver-etcd-client, kube-apiserver restarted, health) took 1.6-2.3 s while the whole
  // suite ran beside the lab: 15 s slots keep them well apart (the windows are printed to show the margin)
  const spacing = 15_000;
  const runs = await Promise.all(
    cluster.controlPlanes.map((n) =>
      cluster.exec(
        n,
        [process.execPath, KPKI, 'timer', 'run', '--renew-within', '30d', '--spacing', `${spacing / 1000}s`, '--timeout', '2m'],
        600_000,
      ),
    ),
  );
  const windows = runs.map((r, i) => {
    const node = cluster.controlPlanes[i].name;
    assert.equal(r.code, 0, `${node}: ${r.stdout}${r.stderr}`);
    assert.match(
      r.stdout,
      new RegExp(
        `the cluster lock cannot be reached \\(etcd: [^)]*\\): falling back to per-node time slots; ${node} is #${i + 1}, waiting`,
      ),
      r.stdout,
    );
    assert.doesNotMatch(r.stdout, /lock acquired/);
    const began = /^(\S+) the cluster lock cannot be reached/m.exec(r.stdout);
    const from = /^(\S+) slot #\d reached/m.exec(r.stdout);
    const to = /^(\S+) result: success/m.exec(r.stdout);
    assert.ok(began && from && to, r.stdout);
    return { node, began: Date.parse(began[1]), from: Date.parse(from[1]), to: Date.parse(to[1]) };
  });
  console.log(
    `timer slots: ${windows.map((w) => `${w.node} +${(w.from - windows[0].from) / 1000}s for ${(w.to - w.from) / 1000}s`).join(', ')}`,
  );
  // slots in --initial-cluster order, each node waiting its own slot from when it began (the three processes start a
  // moment apart: a margin for that skew would be a guess), and each node done before the next one's slot
  for (let i = 1; i < windows.length; i++) {
    assert.ok(windows[i].from - windows[i].began >= i * spacing, `${windows[i].node} started before its slot: ${JSON.stringify(windows)}`);
    assert.ok(
      windows[i].from >= windows[i - 1].to,
      `${windows[i].node} started before ${windows[i - 1].node} had finished: ${JSON.stringify(windows)}`,
    );
  }
  await cluster.waitHealthy(90_000);
  for (const n of cluster.controlPlanes) {
    assert.ok(
      Date.parse(new X509Certificate(n.read('/etc/kubernetes/pki/apiserver-etcd-client.crt')).validTo) > Date.now() + 300 * DAY,
      n.name,
    );
    assert.equal(JSON.parse(n.read('/var/lib/kpki/timer-state.json').toString()).lastResult, 'success');
  }
});
