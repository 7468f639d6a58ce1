// Bringing renewed certificates into service on the running lab: `kpki health`, `kpki restart` (manifest strategy,
// as kubeadm documents), `kpki renew --restart` under load with rollback, and a crash while a manifest is parked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import tls from 'node:tls';
import type { LabNode } from '../../../lab/lab.js';
import { Load, summarize } from '../../../lab/load.js';
import { KPKI, hashTree } from '../../helpers/kpki.js';
import { eventually, kubectl } from '../../helpers/lab-tools.js';
import { lab, skip } from './shared.js';
import { assertServed } from '../../helpers/load-bounds.js';

/** kpki run on a node (inside its mount and UTS namespaces), as an operator logged in there would. */
function kpkiOn(node: LabNode, args: string[], env: Record<string, string> = {}) {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return lab().exec(node, ['env', ...vars, process.execPath, KPKI, ...args], 180_000);
}

/** The serial number of the certificate a TLS server presents right now. */
function servedSerial(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false, timeout: 3000 }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.on('error', reject);
    socket.on('timeout', () => socket.destroy(new Error('timeout')));
  });
}

const fileSerial = (node: LabNode, path: string) => new X509Certificate(node.read(path)).serialNumber;

test('kpki health: every component of a lab node, with the reason when one is down', { skip }, async () => {
  const node = lab().node(3);
  const healthy = await kpkiOn(node, ['health']);
  assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
  for (const row of [
    /^etcd\s+etcd \/health \(healthcheck-client\)\s+ok/m,
    /^kube-apiserver\s+\/readyz \(cluster CA \+ admin\.conf\)\s+ok/m,
    /^kube-scheduler\s+probe\s+ok/m,
    /^kubelet\s+kubelet \/healthz\s+ok/m,
  ]) {
    assert.match(healthy.stdout, row);
  }
  node.parkManifest('kube-scheduler');
  try {
    await node.waitPod('kube-scheduler', 'gone');
    const down = await kpkiOn(node, ['health']);
    assert.equal(down.code, 2, 'CRITICAL while a component is down');
    assert.match(down.stdout, /^kube-scheduler\s+manifest\s+FAILED\s+no kube-scheduler\.yaml in \/etc\/kubernetes\/manifests/m);
  } finally {
    node.unparkManifest('kube-scheduler');
  }
  await lab().waitHealthy(30_000, [node]);
  // A component that runs but does not answer: the reason names the address and the failure.
  node.parkManifest('kube-controller-manager');
  const cm = node.path('/etc/kubernetes/lab-parked/kube-controller-manager.yaml');
  writeFileSync(cm, readFileSync(cm, 'utf8').replace('port: 10257', 'port: 10999'));
  node.unparkManifest('kube-controller-manager');
  try {
    await new Promise((r) => setTimeout(r, 2500));
    const wrong = await kpkiOn(node, ['health']);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stdout, /^kube-controller-manager\s+probe\s+FAILED\s+https:\/\/127\.0\.0\.13:10999\/healthz: connection refused/m);
  } finally {
    writeFileSync(
      node.path('/etc/kubernetes/manifests/kube-controller-manager.yaml'),
      readFileSync(node.path('/etc/kubernetes/manifests/kube-controller-manager.yaml'), 'utf8').replace('port: 10999', 'port: 10257'),
    );
  }
  await lab().waitHealthy(30_000, [node]);
  const offline = await kpkiOn(node, ['--root', '/tmp', 'health']);
  assert.equal(offline.code, 2);
  assert.match(offline.stderr, /needs the running node/);
});

test('kpki restart: the manifest strategy restarts in kubeadm order and waits for health', { skip }, async () => {
  const node = lab().node(3);
  const before = node.podPid('kube-apiserver');
  const r = await kpkiOn(node, ['restart']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const order = [...r.stdout.matchAll(/^(\S+): healthy/gm)].map((m) => m[1]);
  assert.deepEqual(order, ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']);
  assert.match(r.stdout, /restarting with manifest \(static pod, no container runtime CLI/);
  assert.notEqual(node.podPid('kube-apiserver'), before);
  assert.equal(existsSync(node.path('/var/lib/kpki/parked-manifests.json')), false);
});

test('renew all --restart on one node under load: new certificates served, zero failed balanced requests, nothing lost', {
  skip,
}, async () => {
  const node = lab().node(2);
  const oldApi = await servedSerial(node.address, 6443);
  // root's kubeconfig on the node: this cluster's admin credentials plus another cluster's context
  const rootKubeconfig = node.path('/root/.kube/config');
  mkdirSync(node.path('/root/.kube'), { recursive: true });
  const withOther = node
    .read('/etc/kubernetes/admin.conf')
    .toString()
    .replace('clusters:\n', "clusters:\n- cluster: {server: 'https://other.invalid:6443'}\n  name: other\n")
    .replace('contexts:\n', 'contexts:\n- context: {cluster: other, user: other}\n  name: other\n')
    .replace('users:\n', 'users:\n- name: other\n  user: {token: other-token}\n');
  writeFileSync(rootKubeconfig, withOther, { mode: 0o600 });
  const load = Load.start(lab(), { durationMs: 180_000 });
  await new Promise((r) => setTimeout(r, 1000));
  const r = await kpkiOn(node, ['renew', 'all', '--restart', '--yes']);
  await lab().waitHealthy(60_000);
  const report = await load.finish();
  console.log(`renew all --restart on ${node.name}: ${summarize(report)}`);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  // etcd re-reads its serving and peer certificates on every handshake: verified, not restarted
  assert.match(
    r.stdout,
    /Done: etcd \(reloaded by itself\), kube-apiserver \(restarted\), kube-controller-manager \(restarted\), kube-scheduler \(restarted\), kubelet \(restarted\): healthy with the renewed certificates/,
  );
  const newApi = await servedSerial(node.address, 6443);
  assert.notEqual(newApi, oldApi);
  assert.equal(newApi, fileSerial(node, '/etc/kubernetes/pki/apiserver.crt'), 'the API server serves the renewed certificate');
  assert.equal(
    await servedSerial(node.address, 2379),
    fileSerial(node, '/etc/kubernetes/pki/etcd/server.crt'),
    'etcd serves the renewed certificate',
  );
  // one restart of node 2's kube-apiserver; the others are not touched
  assertServed(report, 'renew all --restart on one node', { [node.address]: 1 });
  // root's kubeconfig got the renewed admin credentials and kept the other context
  assert.match(r.stdout, /Updated \/root\/\.kube\/config with the renewed admin credentials/);
  const updated = readFileSync(rootKubeconfig, 'utf8');
  const certOf = (text: string) => /client-certificate-data: (\S+)/.exec(text.slice(text.indexOf('kubernetes-admin')))?.[1];
  assert.equal(certOf(updated), certOf(node.read('/etc/kubernetes/admin.conf').toString()));
  assert.match(updated, /token: other-token/);
  const kubectlRun = await kubectl(
    rootKubeconfig,
    ['--context', 'kubernetes-admin@kubernetes', 'get', '--raw', '/readyz'],
    `https://${node.address}:6443`,
  );
  assert.equal(kubectlRun.out.trim(), 'ok');
});

test('renew --restart rolls back a renewal the API server cannot serve with, and the node is healthy again', { skip }, async () => {
  const node = lab().node(1);
  const before = hashTree(node.path('/etc/kubernetes'));
  // Test hook: the renewed apiserver certificate loses the node's own address from its SANs.
  const r = await kpkiOn(node, ['renew', 'apiserver', '--restart', '--yes', '--timeout', '10s'], { KPKI_TEST_DROP_SAN: node.address });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /kube-apiserver did not become healthy with the renewed certificates: .*does not name this address/);
  assert.match(r.stdout, /Rolled back: the node runs its previous certificates again and is healthy/);
  assert.deepEqual(hashTree(node.path('/etc/kubernetes')), before, 'every file as it was before the renewal');
  await lab().waitHealthy(30_000, [node]);
});

test('a kpki killed while a manifest is parked: the next run puts the manifest back', { skip }, async () => {
  const node = lab().node(3);
  const crashed = await kpkiOn(node, ['restart', 'kube-scheduler'], { KPKI_TEST_CRASH_AT: 'manifest-parked' });
  assert.notEqual(crashed.code, 0);
  assert.equal(existsSync(node.path('/etc/kubernetes/manifests/kube-scheduler.yaml')), false, 'the crash left it parked');
  assert.ok(existsSync(node.path('/etc/kubernetes/kpki-parked/kube-scheduler.yaml')));
  await node.waitPod('kube-scheduler', 'gone');
  const next = await kpkiOn(node, ['restart', 'kube-controller-manager']);
  assert.equal(next.code, 0, next.stdout + next.stderr);
  assert.match(next.stdout, /moved \/etc\/kubernetes\/manifests\/kube-scheduler\.yaml back into place/);
  assert.ok(existsSync(node.path('/etc/kubernetes/manifests/kube-scheduler.yaml')));
  await eventually(
    'the scheduler to run again',
    async () => (await node.health()).checks['kube-scheduler'].ok,
    (ok) => ok,
  );
});

test('kpki token create: a bootstrap token Secret through the API (its own API client, no client library) and the join command with the CA hash', {
  skip,
}, async () => {
  const node = lab().node(1);
  const r = await kpkiOn(node, ['token', 'create', '--ttl', '2h', '--print-join-command']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const m =
    /^kubeadm join 127\.0\.0\.10:6443 --token ([a-z0-9]{6})\.([a-z0-9]{16}) --discovery-token-ca-cert-hash (sha256:[0-9a-f]{64})$/m.exec(
      r.stdout,
    );
  assert.ok(m, r.stdout);
  // kubeadm's documented way to compute the hash, with openssl
  const ca = node.path('/etc/kubernetes/pki/ca.crt');
  const hash = execFileSync('sh', ['-c', `openssl x509 -pubkey -in '${ca}' | openssl pkey -pubin -outform der | sha256sum`], {
    encoding: 'utf8',
  }).split(' ')[0];
  assert.equal(m[3], `sha256:${hash}`);
  const secret = JSON.parse(
    (
      await kubectl(node.path('/etc/kubernetes/admin.conf'), [
        'get',
        '--raw',
        `/api/v1/namespaces/kube-system/secrets/bootstrap-token-${m[1]}`,
      ])
    ).out,
  );
  assert.equal(secret.type, 'bootstrap.kubernetes.io/token');
  assert.equal(Buffer.from(secret.data['token-secret'], 'base64').toString(), m[2]);
  assert.equal(Buffer.from(secret.data['usage-bootstrap-authentication'], 'base64').toString(), 'true');
  const expires = Date.parse(Buffer.from(secret.data.expiration, 'base64').toString());
  assert.ok(Math.abs(expires - (Date.now() + 2 * 3_600_000)) < 120_000);
});

test('Ctrl-C while a manifest is parked puts it back before kpki exits; nothing renewed means nothing restarted', { skip }, async () => {
  const node = lab().node(3);
  // nsenter and env exec in place: the child's PID is kpki's own
  const child = spawn(
    'nsenter',
    ['-t', String(node.initPid), '-m', '-u', '--', process.execPath, KPKI, 'restart', 'etcd', '--timeout', '60s'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await eventually(
      'the manifest to be parked',
      async () => existsSync(node.path('/etc/kubernetes/kpki-parked/etcd.yaml')),
      (parked) => parked,
      20_000,
    );
    process.kill(child.pid!, 'SIGINT');
    assert.equal(await exited, 130, out);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  assert.ok(existsSync(node.path('/etc/kubernetes/manifests/etcd.yaml')), 'the manifest is back');
  assert.equal(existsSync(node.path('/var/lib/kpki/parked-manifests.json')), false);
  assert.equal(existsSync(node.path('/var/lib/kpki/lock')), false, 'the node lock was released before the exit');
  await lab().waitHealthy(60_000, [node]);

  // Ctrl-C while the manifest is still being moved out (the signal lands before the move has finished): put back too
  const early = await kpkiOn(node, ['restart', 'etcd', '--timeout', '60s'], { KPKI_TEST_SIGNAL_AT: 'manifest-parking' });
  assert.equal(early.code, 130, early.stdout + early.stderr);
  assert.ok(existsSync(node.path('/etc/kubernetes/manifests/etcd.yaml')), 'the manifest is back');
  assert.equal(existsSync(node.path('/etc/kubernetes/kpki-parked/etcd.yaml')), false, 'no parked copy left');
  assert.equal(existsSync(node.path('/var/lib/kpki/parked-manifests.json')), false);
  assert.equal(existsSync(node.path('/var/lib/kpki/lock')), false, 'the node lock was released before the exit');
  await lab().waitHealthy(60_000, [node]);

  const nothing = await kpkiOn(node, ['renew', 'all', '--if-expires-within', '1d', '--restart', '--yes']);
  assert.equal(nothing.code, 0, nothing.stdout + nothing.stderr);
  assert.match(nothing.stdout, /Nothing was renewed, so nothing is restarted\./);
});
