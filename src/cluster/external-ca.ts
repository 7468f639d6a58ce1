// kpki csr -i: every node of the inventory gets new pending keys (<key>.next, 0600, journaled) and its requests land
// under DIR/<node>/. Nothing is brought into service, so there is nothing to roll: every node is reached, scanned and
// planned first, the plans are shown, and only then is anything written. (kpki import -i is a rollout: rollout.ts.)
import { KpkiError } from '../errors.js';
import { applyWrites, withNodeLock } from '../node/txn/index.js';
import { CsrPlan, planCsrs } from '../node/external-ca/index.js';
import { refuseWaitingRequests, writeRequests } from '../node/external-ca/index.js';
import { scanNode, ScanOptions } from '../node/scan/index.js';
import { repairNode } from '../service/renew-node.js';
import { connectAll, ConnectOptions, mapBounded } from './connect.js';
import type { InventoryNode } from './inventory/model.js';

export interface NodeRequests {
  node: string;
  plan: CsrPlan;
}

export interface ClusterCsrOptions extends ConnectOptions {
  concurrency: number;
  scan: ScanOptions;
  names: string[];
  keyAlgorithm?: string;
  keysLocal?: boolean;
  out: string;
  /** Shows the plans; a number ends the run there (dry run, or the operator said no). */
  review: (plans: NodeRequests[]) => Promise<number | undefined>;
  log: (line: string) => void;
}

export async function requestOnCluster(nodes: InventoryNode[], o: ClusterCsrOptions): Promise<number> {
  refuseWaitingRequests(
    o.out,
    nodes.map((n) => n.name),
  );
  const reached = await connectAll(nodes, { ...o, onNotice: o.log });
  try {
    const unreachable = reached.filter((r) => r.error);
    if (unreachable.length)
      throw new KpkiError(
        `not every node could be reached, so no request was made:\n  ${unreachable.map((r) => `${r.node.name}: ${r.error}`).join('\n  ')}`,
      );
    const now = new Date();
    const plans = await mapBounded(reached, o.concurrency, async ({ node, host }) => {
      const scan = await scanNode(host!, o.scan);
      return {
        node: node.name,
        plan: await planCsrs(host!, scan, node.name, o.names, { keyAlgorithm: o.keyAlgorithm, keysLocal: o.keysLocal, now }),
      };
    });
    const ended = await o.review(plans);
    if (ended !== undefined) return ended;
    for (const [i, { node, plan }] of plans.entries()) {
      if (plan.manifest.requests.length === 0) {
        o.log(`${node}: nothing to request (no certificate signed by a cluster CA that kpki re-issues on this node)`);
        continue;
      }
      const host = reached[i].host!;
      if (plan.writes.length)
        await withNodeLock(host, async () => {
          await repairNode(host, { log: (line) => o.log(`${node}: ${line}`) });
          await applyWrites(host, plan.writes, 'csr');
        });
      const keys = o.keysLocal
        ? `${plan.localKeys.size} pending key(s) kept beside the requests`
        : `${plan.writes.length} pending key(s) on the node`;
      o.log(`${node}: ${keys}; requests in ${writeRequests(o.out, node, plan)}`);
    }
    return 0;
  } finally {
    for (const r of reached) r.host?.close();
  }
}
