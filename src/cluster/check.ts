// Reads every node of an inventory in parallel (bounded), over SSH: one inventory per node, plus what only shows
// across nodes (control-plane nodes with different CAs, an apiserver certificate without its node's address).
import { isIP } from 'node:net';
import type { NodeScan } from '../node/scan/index.js';
import { describeError } from '../errors.js';
import { scanNode, ScanOptions } from '../node/scan/index.js';
import type { SshHost } from '../hosts/ssh.js';
import { connectNode, ConnectOptions, mapBounded } from './connect.js';
import { pendingServingCsrs, usesServerTlsBootstrap } from '../api/kubelet-csrs.js';
import type { InventoryNode } from './inventory/model.js';

export interface NodeResult {
  node: InventoryNode;
  scan?: NodeScan;
  error?: string;
}

export interface ClusterCheck {
  results: NodeResult[];
  crossNode: string[];
}

function wildcardMatches(names: string[], host: string): boolean {
  return names.some((n) => n.startsWith('*.') && host.endsWith(n.slice(1)) && !host.slice(0, -n.length + 1).includes('.'));
}

/** The command that adds a missing name to a node's apiserver certificate. */
const fix = (node: string, name: string) => `; fix: kpki san add -i INVENTORY --nodes ${node} ${isIP(name) ? 'IP' : 'DNS'}:${name}`;

function crossNodeProblems(results: NodeResult[]): string[] {
  const problems: string[] = [];
  const cps = results.filter((r) => r.node.role === 'control-plane' && r.scan);
  for (const caName of ['ca', 'etcd-ca', 'front-proxy-ca']) {
    const byFingerprint = new Map<string, string[]>();
    for (const r of cps) {
      const ca = r.scan!.cas.find((c) => c.name === caName && !c.embeddedOnly)?.cert;
      if (ca) byFingerprint.set(ca.spkiSha256, [...(byFingerprint.get(ca.spkiSha256) ?? []), r.node.name]);
    }
    if (byFingerprint.size > 1)
      problems.push(
        `${caName} differs between control-plane nodes: ${[...byFingerprint.values()].map((nodes) => nodes.join(', ')).join(' vs ')}`,
      );
  }
  for (const r of cps) {
    const api = r.scan!.entries.find((e) => e.name === 'apiserver')?.cert;
    if (api && !api.ipAddresses.includes(r.node.address) && !api.dnsNames.includes(r.node.address))
      problems.push(
        `${r.node.name}: the apiserver certificate does not name the node's address ${r.node.address}${fix(r.node.name, r.node.address)}`,
      );
    // the control-plane endpoint (load balancer) as the node's admin.conf reaches it
    const server = r.scan!.entries.find((e) => e.name === 'admin.conf')?.kubeconfig?.server;
    const endpoint = server ? new URL(server).hostname.replace(/^\[|\]$/g, '') : undefined;
    if (
      api &&
      endpoint &&
      !api.ipAddresses.includes(endpoint) &&
      !api.dnsNames.includes(endpoint) &&
      !wildcardMatches(api.dnsNames, endpoint)
    )
      problems.push(
        `${r.node.name}: the apiserver certificate does not name the control-plane endpoint ${endpoint} (admin.conf's server)${fix(r.node.name, endpoint)}`,
      );
  }
  const names = (r: NodeResult) => new Set(r.scan!.entries.filter((e) => !e.missing).map((e) => e.name));
  const all = new Set(cps.flatMap((r) => [...names(r)]));
  for (const r of cps) {
    const mine = names(r);
    const lacking = [...all].filter((n) => !mine.has(n) && cps.filter((o) => names(o).has(n)).length > cps.length / 2);
    if (lacking.length) problems.push(`${r.node.name}: lacks ${lacking.join(', ')} that other control-plane nodes have`);
  }
  return problems;
}

export async function checkCluster(
  nodes: InventoryNode[],
  scanOptions: ScanOptions,
  o: ConnectOptions & { concurrency: number },
): Promise<ClusterCheck> {
  const results = await mapBounded(nodes, o.concurrency, async (node): Promise<NodeResult> => {
    let host: SshHost | undefined;
    try {
      host = await connectNode(node, o);
      const scan = await scanNode(host, scanOptions);
      // asked from this machine with the node's own credentials, as kubectl on it would
      if (usesServerTlsBootstrap(scan)) scan.servingCsrs = await pendingServingCsrs(scan);
      return { node, scan };
    } catch (err) {
      return { node, error: describeError(err) };
    } finally {
      host?.close();
    }
  });
  return { results, crossNode: crossNodeProblems(results) };
}
