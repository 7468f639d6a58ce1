// The health gates of a rolling change: before it starts (every control-plane component healthy, etcd with a member
// to spare), after each node (that node fully healthy; the cluster: every etcd member healthy and in sync, every
// API server ready).
import type { SshHost } from '../hosts/ssh.js';
import type { InventoryNode } from './inventory/model.js';
import { componentHealth, nodeHealth, readServices } from '../service/health.js';
import { clusterState, etcdAccess, etcdProblems, EtcdMemberState, spareMembers } from '../service/etcd.js';

export interface GateMember {
  node: InventoryNode;
  host: SshHost;
}

export interface GateOptions {
  kubeconfigDir?: string;
}

/** Every failing check of every component on the node. */
export async function nodeProblems(m: GateMember, o: GateOptions): Promise<string[]> {
  const checks = await nodeHealth(m.host, await readServices(m.host, o.kubeconfigDir), o.kubeconfigDir);
  return checks.filter((c) => !c.ok).map((c) => `${m.node.name} ${c.component} ${c.check}: ${c.detail}`);
}

/** etcd as it sees itself, asked through the first control-plane node that answers. */
export async function etcdState(members: GateMember[], o: GateOptions): Promise<{ states?: EtcdMemberState[]; error?: string }> {
  let error = 'no control-plane node runs etcd as a static pod (external etcd): not checked';
  for (const m of members.filter((x) => x.node.role === 'control-plane')) {
    const access = await etcdAccess(m.host, await readServices(m.host, o.kubeconfigDir)).catch(() => undefined);
    if (!access) continue;
    try {
      return { states: await clusterState(access.endpoint, access.creds) };
    } catch (err) {
      error = `etcd member list through ${m.node.name} (${access.endpoint}): ${(err as Error).message}`;
    }
  }
  return { error };
}

/** Before a change: every control-plane component healthy and etcd able to lose one member. */
export async function preflightProblems(members: GateMember[], o: GateOptions): Promise<string[]> {
  const cps = members.filter((m) => m.node.role === 'control-plane');
  const problems = (await Promise.all(cps.map((m) => nodeProblems(m, o)))).flat();
  const etcd = await etcdState(members, o);
  if (etcd.states) {
    problems.push(...etcdProblems(etcd.states));
    if (etcd.states.length > 1 && spareMembers(etcd.states) < 1)
      problems.push(
        `etcd has no member to spare: ${etcd.states.filter((s) => s.healthy).length} of ${etcd.states.length} healthy, one more down loses quorum`,
      );
  } else if (!/external etcd/.test(etcd.error ?? '')) problems.push(etcd.error!);
  return problems;
}

/** After a node: etcd healthy and in sync on every member it lists, every API server ready. */
export async function clusterGateProblems(members: GateMember[], o: GateOptions): Promise<string[]> {
  const problems: string[] = [];
  const etcd = await etcdState(members, o);
  if (etcd.states) problems.push(...etcdProblems(etcd.states));
  else if (!/external etcd/.test(etcd.error ?? '')) problems.push(etcd.error!);
  for (const m of members.filter((x) => x.node.role === 'control-plane')) {
    const services = await readServices(m.host, o.kubeconfigDir);
    for (const c of await componentHealth(m.host, services, 'kube-apiserver', o.kubeconfigDir))
      if (!c.ok) problems.push(`${m.node.name} kube-apiserver: ${c.detail}`);
  }
  return problems;
}

/** Polls a gate until it passes or the time is up; the last problems (none: passed). */
export async function waitGate(gate: () => Promise<string[]>, timeoutMs: number, intervalMs = 1000): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const problems = await gate();
    if (problems.length === 0 || Date.now() > end) return problems;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
