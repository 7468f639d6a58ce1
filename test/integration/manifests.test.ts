// The in-cluster manifests (deploy/kubernetes), validated offline against the Kubernetes API schemas
// (kubernetes-models' JSON schemas), and read for what they must do: only control-plane nodes, tolerating their
// taints, the node's files mounted (read-only for the exporter), and an agent that may touch nothing but its Lease.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ServiceAccount } from 'kubernetes-models/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';

const DIR = join(import.meta.dirname, '..', '..', 'deploy', 'kubernetes');
const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'apps/v1/DaemonSet': DaemonSet as never,
  'v1/ServiceAccount': ServiceAccount as never,
  'rbac.authorization.k8s.io/v1/Role': Role as never,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding as never,
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

function load(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(join(DIR, file), 'utf8'));
  for (const d of docs) assert.equal(d.errors.length, 0, `${file}: ${d.errors[0]?.message}`);
  return docs.map((d) => d.toJSON());
}

test('every object validates against the Kubernetes API schema; an invalid one would not', () => {
  for (const file of ['kpki.yaml', 'kpki-agent.yaml']) {
    for (const o of load(file)) {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      assert.ok(Model, `${file}: no schema for ${o.apiVersion} ${o.kind}`);
      assert.doesNotThrow(() => new Model(o as never).validate(), `${file}: ${o.kind} ${o.metadata?.name}`);
    }
  }
  const broken = structuredClone(load('kpki.yaml').find((o) => o.kind === 'DaemonSet'));
  broken.spec.template.spec.containers[0].ports[0].containerPort = 'metrics';
  assert.throws(() => new DaemonSet(broken).validate(), 'the schema check can fail');
});

test('both DaemonSets run only on control-plane nodes and tolerate their taints; the exporter mounts read-only', () => {
  const [exporter] = load('kpki.yaml').filter((o) => o.kind === 'DaemonSet');
  const [agent] = load('kpki-agent.yaml').filter((o) => o.kind === 'DaemonSet');
  for (const ds of [exporter, agent]) {
    const pod = ds.spec.template.spec;
    assert.deepEqual(pod.nodeSelector, { 'node-role.kubernetes.io/control-plane': '' });
    assert.deepEqual(pod.tolerations.map((t: Obj) => t.key).sort(), [
      'node-role.kubernetes.io/control-plane',
      'node-role.kubernetes.io/master',
    ]);
    const paths = pod.volumes.map((v: Obj) => v.hostPath.path);
    assert.ok(paths.includes('/etc/kubernetes') && paths.includes('/var/lib/kubelet'), JSON.stringify(paths));
    assert.equal(pod.containers[0].securityContext.allowPrivilegeEscalation, false);
  }
  assert.ok(
    exporter.spec.template.spec.containers[0].volumeMounts.every((m: Obj) => m.readOnly === true),
    'the exporter only reads',
  );
  assert.equal(exporter.spec.template.spec.automountServiceAccountToken, false, 'the exporter needs no API access');
  assert.deepEqual(exporter.spec.template.spec.containers[0].args.slice(0, 3), ['--root', '/host', 'exporter']);
  assert.equal(agent.spec.template.spec.hostNetwork, true, "the agent probes the node's 127.0.0.1");
  assert.equal(agent.spec.template.spec.containers[0].args[0], 'agent');
});

test("the agent's RBAC: its Lease in kube-system and nothing else", () => {
  const docs = load('kpki-agent.yaml');
  const role = docs.find((o) => o.kind === 'Role');
  assert.equal(role.metadata.namespace, 'kube-system');
  for (const rule of role.rules) {
    assert.deepEqual(rule.apiGroups, ['coordination.k8s.io']);
    assert.deepEqual(rule.resources, ['leases']);
    assert.ok(rule.verbs.every((v: string) => ['get', 'update', 'create'].includes(v)));
    if (rule.verbs.some((v: string) => v !== 'create')) assert.deepEqual(rule.resourceNames, ['kpki-renewal']);
  }
  const binding = docs.find((o) => o.kind === 'RoleBinding');
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'kpki-agent', namespace: 'kube-system' }]);
  assert.equal(binding.roleRef.name, role.metadata.name);
  assert.equal(docs.find((o) => o.kind === 'DaemonSet').spec.template.spec.serviceAccountName, 'kpki-agent');
  assert.ok(!docs.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding'), 'no cluster-wide rights');
});
