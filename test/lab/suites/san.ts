// kpki san add -i on the running lab under load: a new DNS name and IP on every control-plane node's apiserver
// certificate, one node at a time behind the gates, zero failed load-balanced requests; real kubectl reaches the API
// by the new name (the node's own /etc/hosts maps it); the kubeadm-config ConfigMap records the names; a name still
// in use is not removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { Load, summarize } from '../../../lab/load.js';
import { hashTree, kpkiAsync } from '../../helpers/kpki.js';
import { kubectl } from '../../helpers/lab-tools.js';
import { lab, skip } from './shared.js';
import { assertServed } from '../../helpers/load-bounds.js';

const NAME = 'k8s.lab.example';

/** The SANs of the certificate a node's API server serves now. */
function servedSans(address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: address, port: 6443, rejectUnauthorized: false, timeout: 3000 }, () => {
      resolve(new X509Certificate(socket.getPeerX509Certificate()!.raw).subjectAltName ?? '');
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

test('san add -i: a new name and IP on every apiserver certificate under load, zero failed balanced requests; kubectl by the new name; kubeadm-config records them', {
  skip,
}, async () => {
  const cluster = lab();
  const [cp1, cp2] = cluster.controlPlanes;
  // the name resolves on cp2 (its own /etc/hosts, bind-mounted from the lab) to cp1's address
  appendFileSync(join(cp2.dir, 'hosts'), `${cp1.address} ${NAME}\n`);
  const kubectlByName = () =>
    cluster.exec(cp2, [
      'kubectl',
      '--kubeconfig',
      '/etc/kubernetes/admin.conf',
      '--request-timeout=5s',
      '--server',
      `https://${NAME}:6443`,
      'get',
      'nodes',
      '-o',
      'name',
    ]);
  const before = await kubectlByName();
  assert.notEqual(before.code, 0, 'the name is not in the certificate yet');
  assert.match(before.stderr, /x509: certificate is valid for .*not k8s\.lab\.example/);

  const inventory = cluster.writeInventory();
  const reportFile = join(cluster.dir, 'san-report.json');
  const load = Load.start(cluster, { durationMs: 600_000 });
  await new Promise((r) => setTimeout(r, 1000));
  const r = await kpkiAsync(['san', 'add', '-i', inventory, `DNS:${NAME}`, 'IP:127.0.0.50', '--yes', '--report', reportFile]);
  await cluster.waitHealthy(90_000);
  const report = await load.finish();
  console.log(`san add -i: ${summarize(report)}`);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assertServed(report, 'san add -i', 1);
  const json = JSON.parse(readFileSync(reportFile, 'utf8'));
  assert.deepEqual(
    json.nodes.map((n: { node: string; outcome: string }) => `${n.node} ${n.outcome}`),
    ['lab-cp1 renewed', 'lab-cp2 renewed', 'lab-cp3 renewed', 'lab-w1 unchanged'],
  );
  assert.match(r.stdout, /recorded in apiServer\.certSANs in kube-system\/kubeadm-config/);
  for (const node of cluster.controlPlanes) {
    const served = await servedSans(node.address);
    assert.match(served, new RegExp(`DNS:${NAME.replace(/\./g, '\\.')}`), `${node.name} serves the new name`);
    assert.match(served, /IP Address:127\.0\.0\.50/, `${node.name} serves the new IP`);
    assert.match(served, new RegExp(`IP Address:${node.address.replace(/\./g, '\\.')}`), `${node.name} keeps its own address`);
  }
  const after = await kubectlByName();
  assert.equal(after.code, 0, after.stderr);
  assert.match(after.stdout, /node\/lab-cp1/);
  const cm = await kubectl(
    cluster.adminKubeconfig,
    ['get', 'configmap', '-n', 'kube-system', 'kubeadm-config', '-o', 'jsonpath={.data.ClusterConfiguration}'],
    cluster.endpointUrl,
  );
  assert.equal(cm.code, 0, cm.out);
  // added to apiServer beside what kubeadm wrote there, the rest of the document as it was
  assert.match(
    cm.out,
    /apiServer:\n  extraArgs:\n    authorization-mode: Node,RBAC\n  certSANs:\n    - k8s\.lab\.example\n    - 127\.0\.0\.50\napiVersion: kubeadm\.k8s\.io\/v1beta3\n/,
  );
});

test('san add -i again after kubeadm-config lost the names (an upload-config overwrote it): nothing is re-issued, the names are recorded again', {
  skip,
}, async () => {
  const cluster = lab();
  const server = cluster.endpointUrl;
  const read = async () => {
    const cm = await kubectl(cluster.adminKubeconfig, ['get', 'configmap', '-n', 'kube-system', 'kubeadm-config', '-o', 'json'], server);
    assert.equal(cm.code, 0, cm.out);
    if (cm.out !== cm.stdout) console.log(`kubectl said on stderr: ${cm.out.slice(cm.stdout.length)}`);
    return JSON.parse(cm.stdout) as { data: { ClusterConfiguration: string } };
  };
  const cm = await read();
  cm.data.ClusterConfiguration = cm.data.ClusterConfiguration.replace(/  certSANs:\n(    - .*\n)+/, '');
  assert.doesNotMatch(cm.data.ClusterConfiguration, /certSANs/);
  const file = join(cluster.dir, 'kubeadm-config-without-sans.json');
  writeFileSync(file, JSON.stringify(cm));
  const replaced = await kubectl(cluster.adminKubeconfig, ['replace', '--validate=false', '-f', file], server);
  assert.equal(replaced.code, 0, replaced.out);

  const certs = cluster.controlPlanes.map((n) => n.read('/etc/kubernetes/pki/apiserver.crt'));
  const r = await kpkiAsync(['san', 'add', '-i', cluster.writeInventory(), `DNS:${NAME}`, 'IP:127.0.0.50', '--yes']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /recorded in apiServer\.certSANs in kube-system\/kubeadm-config/);
  assert.deepEqual(
    cluster.controlPlanes.map((n) => n.read('/etc/kubernetes/pki/apiserver.crt')),
    certs,
    'the certificates already carry the names: none re-issued',
  );
  assert.match((await read()).data.ClusterConfiguration, /  certSANs:\n    - k8s\.lab\.example\n    - 127\.0\.0\.50\n/);
});

test('san remove -i: a name every kubeconfig still uses is refused before any node is touched', { skip }, async () => {
  const cluster = lab();
  const hashes = cluster.controlPlanes.map((n) => hashTree(n.path('/etc/kubernetes')));
  const r = await kpkiAsync(['san', 'remove', '-i', cluster.writeInventory(), `IP:${cluster.controlPlanes[0].address}`, '--yes']);
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(
    r.stdout + r.stderr,
    /A name to remove is still in use:\n\s+lab-cp1: 127\.0\.0\.11: the server of \/etc\/kubernetes\/controller-manager\.conf/,
  );
  assert.deepEqual(
    cluster.controlPlanes.map((n) => hashTree(n.path('/etc/kubernetes'))),
    hashes,
    'nothing changed on any node',
  );
});
