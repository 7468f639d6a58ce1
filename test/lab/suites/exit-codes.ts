// The README's exit-code cells that need a running cluster, each with the output that tells its cause: ca plan -i
// incomplete (1), restart with a component that does not come back (1), restore -i failing at a node with the next
// nodes untouched (1), renew -i refusing before any change while the control plane is unhealthy (1), and a unit that
// does not come back (the lab's systemctl made to fail) stopping a rollout at its node (1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashTree, KPKI, kpkiAsync } from '../../helpers/kpki.js';
import { failingUnitMarker } from '../../../lab/setup.js';
import { lab, skip } from './shared.js';

/** Every control-plane node's tree under /etc/kubernetes (what a refusal must leave as it was). */
const trees = () => lab().controlPlanes.map((n) => hashTree(n.path('/etc/kubernetes'), []));

test('ca plan -i with a node that cannot be reached: the plan is incomplete (exit 1), the node named', { skip }, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory(join(cluster.dir, 'plan-inventory.yaml'));
  writeFileSync(inventory, `${readFileSync(inventory, 'utf8')}  - { name: lab-gone, address: 127.0.0.250, role: control-plane }\n`);
  const r = await kpkiAsync(['ca', 'plan', '-i', inventory, '--ca', 'front-proxy-ca']);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /lab-gone/);
});

test('renew -i refuses before any change while the control plane is unhealthy (exit 1), naming what is down', { skip }, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  const cp3 = cluster.node(3);
  cp3.parkManifest('kube-scheduler');
  try {
    await cp3.waitPod('kube-scheduler', 'gone');
    const before = trees();
    const r = await kpkiAsync(['renew', '-i', inventory, 'all', '--yes']);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /Refusing to start: the control plane is not healthy now[\s\S]*lab-cp3 kube-scheduler/);
    assert.deepEqual(trees(), before, 'no node was touched');
  } finally {
    cp3.unparkManifest('kube-scheduler');
  }
  await cluster.waitHealthy(60_000);
});

test('restart exits 1 when a component does not come back, with the reason', { skip }, async () => {
  const cluster = lab();
  const node = cluster.node(3);
  const conf = '/etc/kubernetes/scheduler.conf';
  const original = node.read(conf);
  // a kubeconfig the scheduler cannot load: it exits at start, as the real one does
  writeFileSync(node.path(conf), 'not a kubeconfig\n');
  try {
    const r = await cluster.exec(node, [process.execPath, KPKI, 'restart', 'kube-scheduler', '--timeout', '15s'], 120_000);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /kube-scheduler.*(not healthy|did not become healthy)/);
  } finally {
    writeFileSync(node.path(conf), original);
  }
  await node.restartPod('kube-scheduler');
  await cluster.waitHealthy(60_000);
});

test('restore -i fails at a node whose backup is damaged (exit 1): the nodes after it are untouched', { skip }, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  const renewed = await kpkiAsync(['renew', '-i', inventory, 'front-proxy-client', '--yes']);
  assert.equal(renewed.status, 0, renewed.stdout + renewed.stderr);
  const id = /Rollout (r\S+) complete/.exec(renewed.stdout)![1];
  // node 2's backup of that rollout: one stored file changed, so its sha256 no longer matches
  const backups = cluster.node(2).path('/var/lib/kpki/backups');
  const backup = readdirSync(backups).find((b) => {
    const manifest = JSON.parse(readFileSync(join(backups, b, 'manifest.json'), 'utf8'));
    return manifest.reason.includes(id);
  })!;
  writeFileSync(join(backups, backup, 'files/etc/kubernetes/pki/front-proxy-client.crt'), 'damaged\n');
  const cp3Before = hashTree(cluster.node(3).path('/etc/kubernetes'), []);
  const r = await kpkiAsync(['restore', '-i', inventory, id, '--yes']);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, new RegExp(`backup ${backup} is damaged`));
  assert.match(r.stdout, /^lab-cp1: restored \d+ file\(s\) from backup/m, 'the node before it was restored');
  assert.equal(hashTree(cluster.node(3).path('/etc/kubernetes'), []), cp3Before, 'the node after it is untouched');
  await cluster.waitHealthy(60_000);
});

test('a kubelet that does not come back after its restart (systemctl fails): renew -i stops at that node (exit 1), rolls it back, the next nodes untouched', {
  skip,
}, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  const cp2 = cluster.node(2);
  const before3 = hashTree(cluster.node(3).path('/var/lib/kubelet/pki'), []);
  const link = cp2.read('/var/lib/kubelet/pki/kubelet-client-current.pem');
  writeFileSync(failingUnitMarker(cp2), '');
  try {
    const r = await kpkiAsync(['renew', '-i', inventory, 'kubelet-client', '--yes', '--nodes', 'lab-cp1,lab-cp2,lab-cp3']);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /lab-cp2:.*kubelet.*(Job for kubelet\.service failed|did not come back|not healthy)/);
    assert.match(r.stdout + r.stderr, /STOPPED at lab-cp2/);
    assert.deepEqual(cp2.read('/var/lib/kubelet/pki/kubelet-client-current.pem'), link, 'lab-cp2 rolled back');
    assert.equal(hashTree(cluster.node(3).path('/var/lib/kubelet/pki'), []), before3, 'lab-cp3 untouched');
  } finally {
    rmSync(failingUnitMarker(cp2), { force: true });
  }
  await cluster.waitHealthy(60_000);
});

test('kubelet renew exits 1 when the API server refuses the new certificate (401): signed by a CA the node trusts but the API server does not', {
  skip,
}, async () => {
  const cluster = lab();
  const worker = cluster.node('lab-w1');
  const caFile = '/etc/kubernetes/pki/ca.crt';
  const realCa = worker.read(caFile);
  // a CA of the operator's (its key in the test's temp dir), put where the worker keeps the cluster CA
  const dir = mkdtempSync(join(tmpdir(), 'kpki-other-ca-'));
  try {
    const [key, crt] = [join(dir, 'ca.key'), join(dir, 'ca.crt')];
    spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      crt,
      '-subj',
      '/CN=kubernetes',
      '-days',
      '30',
      '-addext',
      'keyUsage=critical,keyCertSign,digitalSignature',
    ]);
    writeFileSync(worker.path(caFile), readFileSync(crt));
    const r = await cluster.exec(worker, [process.execPath, KPKI, 'kubelet', 'renew', '--ca-cert', crt, '--ca-key', key, '--yes'], 180_000);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /401|Unauthorized/);
  } finally {
    writeFileSync(worker.path(caFile), realCa);
    rmSync(dir, { recursive: true, force: true });
  }
  // put the worker's kubelet back as it was (its backup), and restart it
  const restore = await cluster.exec(worker, [process.execPath, KPKI, 'restore', 'latest'], 60_000);
  assert.equal(restore.code, 0, restore.stdout + restore.stderr);
  const restart = await cluster.ssh(worker, 'systemctl restart kubelet');
  assert.equal(restart.code, 0, restart.stderr);
  await cluster.waitHealthy(60_000);
});
