// Health of every node of an inventory, read in parallel: each node's components (as `kpki health` checks them on
// one node), plus etcd as it sees itself (every member it lists, leader, in sync).
import { nodeHealth, readServices, HealthCheck } from '../service/health.js';
import { describeError } from '../errors.js';
import { etcdProblems } from '../service/etcd.js';
import type { ScanOptions } from '../node/scan/index.js';
import { connectAll, ConnectOptions } from './connect.js';
import { etcdState } from './gates.js';
import type { InventoryNode } from './inventory/model.js';

export interface NodeHealthResult {
  node: InventoryNode;
  checks: HealthCheck[];
  error?: string;
}

export interface ClusterHealth {
  nodes: NodeHealthResult[];
  etcd: { members: { name: string; healthy: boolean; leader?: string; raftIndex?: number; detail: string }[]; problems: string[] };
}

export async function clusterHealth(
  nodes: InventoryNode[],
  scan: ScanOptions,
  o: ConnectOptions & { concurrency: number },
): Promise<ClusterHealth> {
  const reached = await connectAll(nodes, o);
  try {
    const results = await Promise.all(
      reached.map(async (r): Promise<NodeHealthResult> => {
        if (!r.host) return { node: r.node, checks: [], error: r.error };
        try {
          return { node: r.node, checks: await nodeHealth(r.host, await readServices(r.host, scan.kubeconfigDir), scan.kubeconfigDir) };
        } catch (err) {
          return { node: r.node, checks: [], error: describeError(err) };
        }
      }),
    );
    const members = reached.filter((r) => r.host).map((r) => ({ node: r.node, host: r.host! }));
    const state = await etcdState(members, scan);
    const etcd = state.states
      ? {
          members: state.states.map((s) => ({
            name: s.member.name || s.member.id,
            healthy: s.healthy,
            leader: s.leader,
            raftIndex: s.raftIndex,
            detail: s.detail,
          })),
          problems: etcdProblems(state.states),
        }
      : { members: [], problems: /external etcd/.test(state.error ?? '') ? [] : [state.error!] };
    return { nodes: results, etcd };
  } finally {
    for (const r of reached) r.host?.close();
  }
}
