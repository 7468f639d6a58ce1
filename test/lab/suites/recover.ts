// A cluster whose certificates all expired, on every node: `kpki recover` on each control-plane node in turn and
// `kpki kubelet renew` for the worker (from the operator's machine, with the CA in memory only) bring it back.
// The same from this machine in one command: kpki recover -i. Run last on the shared lab: they break the whole
// cluster and leave it healthy again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { LabNode } from '../../../lab/lab.js';
import { KPKI, kpkiAsync } from '../../helpers/kpki.js';
import { apiUrl, eventually, kubectl } from '../../helpers/lab-tools.js';
import { admin, lab, skip } from './shared.js';

function kpkiOn(node: LabNode, args: string[]) {
  return lab().exec(node, [process.execPath, KPKI, ...args], 600_000);
}

test('an expired cluster (every certificate, every node) comes back with kpki recover node by node', { skip }, async () => {
  const cluster = lab();
  for (const node of cluster.nodes) await node.reissue('all');
  await Promise.all(cluster.controlPlanes.map((n) => n.restartAllPods())); // they now load the expired certificates
  const cp1 = cluster.node(1);
  const broken = await eventually(
    'the API server to listen again',
    () => kubectl(admin(cp1), ['get', '--raw', '/readyz'], apiUrl(cp1)),
    (r) => !/refused/.test(r.out),
  );
  assert.match(broken.out, /certificate has expired/);

  // root's kubeconfig on cp1: the (expired) admin credentials and another cluster's context
  mkdirSync(cp1.path('/root/.kube'), { recursive: true });
  const rootKubeconfig = cp1.path('/root/.kube/config');
  writeFileSync(
    rootKubeconfig,
    cp1
      .read('/etc/kubernetes/admin.conf')
      .toString()
      .replace('contexts:\n', 'contexts:\n- context: {cluster: kubernetes, user: viewer, namespace: apps}\n  name: viewer\n')
      .replace('users:\n', 'users:\n- name: viewer\n  user: {token: viewer-token}\n'),
    { mode: 0o600 },
  );

  const timings: string[] = [];
  for (const node of cluster.controlPlanes) {
    const started = Date.now();
    const r = await kpkiOn(node, ['recover']);
    timings.push(`${node.name} ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(r.code, 0, `${node.name}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /Found on .*:\n {2}admin\.conf: expired/);
    assert.match(r.stdout, /Renewed \d+ certificate\(s\)/);
  }
  const worker = cluster.workers[0];
  const pki = cp1.path('/etc/kubernetes/pki');
  const kubelet = spawnSync(
    process.execPath,
    [KPKI, '--root', worker.path('/'), 'kubelet', 'renew', '--ca-cert', `${pki}/ca.crt`, '--ca-key', `${pki}/ca.key`, '--yes'],
    { encoding: 'utf8' },
  );
  assert.equal(kubelet.status, 0, kubelet.stdout + kubelet.stderr);
  assert.match(kubelet.stdout, /Verified: https:\/\/127\.0\.0\.10:6443 authenticates system:node:lab-w1/);
  const started = Date.now();
  await cluster.waitHealthy(90_000);
  console.log(
    `recover: ${timings.join(', ')}; whole cluster healthy ${((Date.now() - started) / 1000).toFixed(1)} s after the worker's kubelet renew`,
  );

  for (const node of cluster.controlPlanes) {
    const r = await kubectl(admin(node), ['get', '--raw', '/readyz'], apiUrl(node));
    assert.equal(r.out.trim(), 'ok', node.name);
  }
  const nodes = await kubectl(cluster.adminKubeconfig, ['get', 'nodes', '--no-headers']);
  assert.equal(nodes.out.match(/\sReady\s/g)?.length, 4, nodes.out);
  // root's kubeconfig works again and kept its other context
  const ok = await kubectl(rootKubeconfig, ['get', '--raw', '/readyz'], apiUrl(cp1));
  assert.equal(ok.out.trim(), 'ok');
  assert.match(readFileSync(rootKubeconfig, 'utf8'), /token: viewer-token/);
});

test('an expired cluster comes back with one kpki recover -i from this machine: etcd quorum first, then node by node, the worker Ready', {
  skip,
}, async () => {
  const cluster = lab();
  for (const node of cluster.nodes) await node.reissue('all');
  await Promise.all(cluster.controlPlanes.map((n) => n.restartAllPods()));
  const cp2 = cluster.node(2);
  const broken = await eventually(
    'the API server to listen again',
    () => kubectl(admin(cp2), ['get', '--raw', '/readyz'], apiUrl(cp2)),
    (r) => !/refused/.test(r.out),
  );
  assert.match(broken.out, /certificate has expired/);
  const inventory = cluster.writeInventory();
  const reportFile = `${cluster.dir}/recover-report.json`;

  const dry = await kpkiAsync(['recover', '-i', inventory, '--dry-run']);
  assert.equal(dry.status, 0, dry.stdout + dry.stderr);
  assert.match(dry.stdout, /== lab-cp1 \(127\.0\.0\.11, control-plane\): expired: .*apiserver \(1d ago\)/);
  assert.match(dry.stdout, /kubelet client certificate expires .*: will be renewed/);

  const started = Date.now();
  const r = await kpkiAsync(['recover', '-i', inventory, '--yes', '--report', reportFile]);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /etcd: quorum, every member healthy and in sync/);
  assert.match(r.stdout, /Recovery r\S+ complete/);
  await cluster.waitHealthy(90_000);
  console.log(
    `recover -i: whole 3 + 1 cluster in ${seconds} s (${/etcd is not healthy with the renewed certificates alone/.test(r.stdout) ? 'etcd restarted' : 'etcd back to quorum by itself'})`,
  );
  for (const node of cluster.controlPlanes) {
    const ready = await kubectl(admin(node), ['get', '--raw', '/readyz'], apiUrl(node));
    assert.equal(ready.out.trim(), 'ok', node.name);
  }
  const nodes = await kubectl(cluster.adminKubeconfig, ['get', 'nodes', '--no-headers']);
  assert.equal(nodes.out.match(/\sReady\s/g)?.length, 4, nodes.out);
  const json = JSON.parse(readFileSync(reportFile, 'utf8'));
  assert.deepEqual(
    json.nodes.map((n: { outcome: string }) => n.outcome),
    ['renewed', 'renewed', 'renewed', 'renewed'],
  );
  assert.ok(json.nodes[0].certificates.length >= 10, JSON.stringify(json.nodes[0].certificates));
});
