// Reaching the nodes of an inventory: one SSH host per node (jump host, sudo, known_hosts as the inventory says), and
// bounded parallelism so that one slow node never holds up the rest.
import { connectSsh, SshHost, SshJump } from '../hosts/ssh.js';
import { describeError } from '../errors.js';
import type { InventoryNode, JumpHost } from './inventory/model.js';

export interface ConnectOptions {
  acceptNewHostKeys: boolean;
  timeoutMs: number;
  /** What a node's connection has to tell once (e.g. that probes go through a relay program). */
  onNotice?: (message: string) => void;
}

/** A ProxyJump chain as the SSH layer takes it. */
function jumpOf(j: JumpHost | undefined): SshJump | undefined {
  return (
    j && {
      address: j.address,
      port: j.port,
      user: j.user,
      keyFile: j.key,
      keyFiles: j.keyFiles,
      hostKeyAlias: j.hostKeyAlias,
      via: jumpOf(j.via),
    }
  );
}

export async function connectNode(node: InventoryNode, o: ConnectOptions): Promise<SshHost> {
  const host = await connectSsh({
    name: node.name,
    address: node.address,
    port: node.port,
    user: node.user,
    keyFile: node.key,
    keyFiles: node.keyFiles,
    certificateFiles: node.certificateFiles,
    identitiesOnly: node.identitiesOnly,
    password: node.password,
    sudo: node.sudo,
    knownHostsFile: node.knownHosts,
    moreKnownHosts: node.moreKnownHosts,
    hostKeyAlias: node.hostKeyAlias,
    acceptNewHostKeys: o.acceptNewHostKeys || Boolean(node.acceptNewHostKeys),
    timeoutMs: node.timeoutMs ?? o.timeoutMs,
    jump: jumpOf(node.jump),
  });
  host.onNotice = o.onNotice;
  return host;
}

/** Runs fn on every item with at most `limit` at once; results in input order. */
export async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  });
  await Promise.all(workers);
  return results;
}

export interface Reached {
  node: InventoryNode;
  host?: SshHost;
  error?: string;
}

/** Connects to every node (bounded); an unreachable node is reported, never waited for beyond the timeout. */
export function connectAll(nodes: InventoryNode[], o: ConnectOptions & { concurrency: number }): Promise<Reached[]> {
  return mapBounded(nodes, o.concurrency, async (node) => {
    try {
      return { node, host: await connectNode(node, o) };
    } catch (err) {
      return { node, error: describeError(err) };
    }
  });
}
