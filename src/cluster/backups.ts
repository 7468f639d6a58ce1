// Backups across a cluster: the list of every node's, and a restore on each node of the backup a rollout took there
// (by rollout id), of a given backup id, or of each node's latest. One node at a time, under its lock, each restore
// taking a backup of what it replaces first.
import { withNodeLock, recoverInterrupted } from '../node/txn/index.js';
import { describeError } from '../errors.js';
import { BackupManifest, listBackups } from '../node/txn/index.js';
import { restoreBackup } from '../node/txn/index.js';
import { connectAll, ConnectOptions } from './connect.js';
import type { InventoryNode } from './inventory/model.js';

export interface NodeBackups {
  node: InventoryNode;
  backups: BackupManifest[];
  error?: string;
}

export async function clusterBackups(nodes: InventoryNode[], o: ConnectOptions & { concurrency: number }): Promise<NodeBackups[]> {
  const reached = await connectAll(nodes, o);
  try {
    return await Promise.all(
      reached.map(async (r) =>
        r.host ? { node: r.node, backups: await listBackups(r.host) } : { node: r.node, backups: [], error: r.error },
      ),
    );
  } finally {
    for (const r of reached) r.host?.close();
  }
}

/** Which backup a restore takes on one node: a rollout's (reason names it), an exact id, or the latest. */
export function pickBackup(backups: BackupManifest[], ref: string): BackupManifest | undefined {
  if (ref === 'latest') return backups.at(-1);
  return backups.find((b) => b.id === ref) ?? [...backups].reverse().find((b) => b.reason.includes(`(rollout ${ref})`));
}

export interface RestorePlanEntry {
  node: InventoryNode;
  backup?: BackupManifest;
  error?: string;
}

export async function restoreCluster(
  plan: RestorePlanEntry[],
  o: ConnectOptions & { log: (node: string, line: string) => void },
): Promise<{ node: string; ok: boolean; detail: string }[]> {
  const results: { node: string; ok: boolean; detail: string }[] = [];
  const reached = await connectAll(
    plan.filter((p) => p.backup).map((p) => p.node),
    { ...o, concurrency: 10 },
  );
  try {
    for (const r of reached) {
      const backup = plan.find((p) => p.node === r.node)!.backup!;
      if (!r.host) {
        results.push({ node: r.node.name, ok: false, detail: r.error! });
        continue;
      }
      const host = r.host;
      try {
        const { replaced, changed } = await withNodeLock(host, async () => {
          const recovered = await recoverInterrupted(host);
          if (recovered) o.log(r.node.name, recovered);
          return restoreBackup(host, backup);
        });
        results.push({
          node: r.node.name,
          ok: true,
          detail: replaced
            ? `restored ${changed} file(s) from backup ${backup.id} (${backup.reason}); the replaced files are in backup ${replaced.id}`
            : `every file of backup ${backup.id} already as it has it`,
        });
      } catch (err) {
        results.push({ node: r.node.name, ok: false, detail: describeError(err) });
        break; // the next nodes are left as they are
      }
    }
  } finally {
    for (const r of reached) r.host?.close();
  }
  return results;
}
