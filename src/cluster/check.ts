// Reads every node of an inventory in parallel (bounded), over SSH: one inventory per node, plus what only shows
// across nodes (control-plane nodes with different CAs, an apiserver certificate without its node's address).
import type { NodeInventory } from '../node/inventory.js';
import { scanNode, ScanOptions } from '../node/scan.js';
import { connectSsh, SshHost } from '../hosts/ssh.js';
import type { InventoryNode } from './inventory/model.js';

export interface NodeResult {
  node: InventoryNode;
  inventory?: NodeInventory;
  error?: string;
}

export interface ClusterCheck {
  results: NodeResult[];
  crossNode: string[];
}

export interface ConnectOptions {
  acceptNewHostKeys: boolean;
  timeoutMs: number;
}

export function connectNode(node: InventoryNode, o: ConnectOptions): Promise<SshHost> {
  const jump = node.jump && { address: node.jump.address, port: node.jump.port, user: node.jump.user, keyFile: node.jump.key };
  return connectSsh({ name: node.name, address: node.address, port: node.port, user: node.user, keyFile: node.key, password: node.password, sudo: node.sudo, knownHostsFile: node.knownHosts, acceptNewHostKeys: o.acceptNewHostKeys, timeoutMs: o.timeoutMs, jump });
}

/** Runs fn on every item with at most `limit` at once; results in input order. */
export async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  });
  await Promise.all(workers);
  return results;
}

function crossNodeProblems(results: NodeResult[]): string[] {
  const problems: string[] = [];
  const cps = results.filter((r) => r.node.role === 'control-plane' && r.inventory);
  for (const caName of ['ca', 'etcd-ca', 'front-proxy-ca']) {
    const byFingerprint = new Map<string, string[]>();
    for (const r of cps) {
      const ca = r.inventory!.cas.find((c) => c.name === caName && !c.embeddedOnly)?.cert;
      if (ca) byFingerprint.set(ca.spkiSha256, [...(byFingerprint.get(ca.spkiSha256) ?? []), r.node.name]);
    }
    if (byFingerprint.size > 1) problems.push(`${caName} differs between control-plane nodes: ${[...byFingerprint.values()].map((nodes) => nodes.join(', ')).join(' vs ')}`);
  }
  for (const r of cps) {
    const api = r.inventory!.entries.find((e) => e.name === 'apiserver')?.cert;
    if (api && !api.ipAddresses.includes(r.node.address) && !api.dnsNames.includes(r.node.address)) problems.push(`${r.node.name}: the apiserver certificate does not name the node's address ${r.node.address}`);
  }
  const names = (r: NodeResult) => new Set(r.inventory!.entries.filter((e) => !e.missing).map((e) => e.name));
  const all = new Set(cps.flatMap((r) => [...names(r)]));
  for (const r of cps) {
    const mine = names(r);
    const lacking = [...all].filter((n) => !mine.has(n) && cps.filter((o) => names(o).has(n)).length > cps.length / 2);
    if (lacking.length) problems.push(`${r.node.name}: lacks ${lacking.join(', ')} that other control-plane nodes have`);
  }
  return problems;
}

export async function checkCluster(nodes: InventoryNode[], scan: ScanOptions, o: ConnectOptions & { concurrency: number }): Promise<ClusterCheck> {
  const results = await mapBounded(nodes, o.concurrency, async (node): Promise<NodeResult> => {
    let host: SshHost | undefined;
    try {
      host = await connectNode(node, o);
      return { node, inventory: await scanNode(host, scan) };
    } catch (err) {
      return { node, error: (err as Error).message };
    } finally {
      host?.close();
    }
  });
  return { results, crossNode: crossNodeProblems(results) };
}
