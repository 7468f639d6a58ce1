// kpki ca plan -i on the running lab: the blast radius of rotating each CA, from the nodes' files and from the API.
// The API server stand-in publishes extension-apiserver-authentication from its flags and the controller-manager
// stand-in publishes kube-root-ca.crt from --root-ca-file, as the real ones do; cluster-info, CoreDNS and kube-proxy
// pods, a webhook trusting the cluster CA and metrics-server's APIService are seeded as a kubeadm cluster holds them
// (lab/cluster-objects.ts). Read-only: every node's /etc/kubernetes is byte for byte as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashTree, kpkiAsync } from '../../helpers/kpki.js';
import { lab, skip } from './shared.js';

async function plan(inventory: string, ca: string): Promise<{ status: number; json: any; text: string }> {
  const r = await kpkiAsync(['ca', 'plan', '-i', inventory, '--ca', ca, '-o', 'json']);
  assert.ok(r.stdout.startsWith('{'), `${ca}: ${r.stdout}${r.stderr}`);
  return { status: r.status, json: JSON.parse(r.stdout), text: r.stdout };
}

test('ca plan -i: every node and the API, for each CA, as the reference lists them; nothing written', { skip }, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  const before = cluster.nodes.map((n) => hashTree(n.path('/etc/kubernetes')));

  const ca = await plan(inventory, 'ca');
  assert.equal(ca.status, 0, ca.text.slice(0, 2000));
  const api = ca.json.api;
  assert.deepEqual(api.rootCaConfigMaps, { namespaces: 4, holding: 4 }, 'the controller-manager published kube-root-ca.crt');
  assert.deepEqual(
    api.configMaps.map((c: any) => `${c.name} ${c.key} ${c.holds}`),
    ['kube-public/cluster-info kubeconfig true', 'kube-system/extension-apiserver-authentication client-ca-file true'],
  );
  assert.deepEqual(
    api.caBundles,
    [{ kind: 'ValidatingWebhookConfiguration', name: 'policy-webhook' }],
    'the APIService skips TLS verification',
  );
  assert.equal(api.tokenPods.pods, 2 + cluster.nodes.length, 'CoreDNS twice and kube-proxy on every node');
  assert.deepEqual(api.notVisible, []);
  assert.equal(ca.json.nodes.length, cluster.nodes.length);
  const hashes = new Set(ca.json.nodes.map((n: any) => n.ca.joinHash));
  assert.equal(hashes.size, 1, 'every node holds the same CA');
  for (const n of ca.json.nodes) {
    if (n.role === 'worker') assert.deepEqual(n.restarts.trust, ['kubelet'], `${n.node}`);
    else assert.deepEqual(n.restarts.trust, ['kube-controller-manager', 'kube-scheduler', 'kubelet'], `${n.node}`);
  }

  const proxy = await plan(inventory, 'front-proxy-ca');
  assert.equal(proxy.status, 0);
  assert.deepEqual(
    proxy.json.api.configMaps.map((c: any) => `${c.name} ${c.key} ${c.holds}`),
    ['kube-system/extension-apiserver-authentication requestheader-client-ca-file true'],
  );
  const etcd = await plan(inventory, 'etcd-ca');
  assert.equal(etcd.status, 0);
  assert.match(etcd.json.apiMissing, /not in the API/);
  for (const n of etcd.json.nodes.filter((n: any) => n.role === 'control-plane'))
    assert.deepEqual(n.restarts.trust, ['etcd', 'kube-apiserver']);
  const sa = await plan(inventory, 'sa');
  assert.equal(sa.status, 0);
  assert.equal(sa.json.api.tokenPods.pods, 2 + cluster.nodes.length);
  assert.equal(sa.json.api.legacyTokenSecrets, 0);

  const text = await kpkiAsync(['ca', 'plan', '-i', inventory]);
  assert.match(text.stdout, /kube-root-ca\.crt: in 4 namespace\(s\), 4 hold this CA/);
  assert.match(text.stdout, /caBundle of ValidatingWebhookConfiguration policy-webhook holds this CA/);
  assert.deepEqual(
    cluster.nodes.map((n) => hashTree(n.path('/etc/kubernetes'))),
    before,
    'ca plan writes nothing on any node',
  );
});
