// kpki kubelet renew -i: every node's kubelet client certificate, signed offline with the cluster CA (read into memory
// from a control-plane node, or given), written the kubelet's way, the kubelet restarted, the node verified Ready.
// Control-plane nodes one at a time, then workers --max-unavailable at a time; a node that does not come back is
// rolled back and the rest are left alone.
import type { KeyObject } from 'node:crypto';
import type { Certificate } from '../pki/certificate.js';
import { kubeletClientDue, kubeletStatus } from '../node/kubelet/index.js';
import { scanNode, ScanOptions } from '../node/scan/index.js';
import { adminAccess, clusterCa } from './cluster-access.js';
import type { ConnectOptions } from './connect.js';
import type { InventoryNode } from './inventory/model.js';
import { newRolloutId, RolloutSettings } from './rollout/journal.js';
import { ClusterMember, clusterOperation, markUntouched, memoryJournal, OperationOutcome, renewKubeletsInBatches } from './operation.js';
import type { Operation, RolloutEvents, Refusal } from './outcome.js';

export interface KubeletRenewOptions extends ConnectOptions {
  settings: RolloutSettings;
  scan: ScanOptions;
  concurrency: number;
  dryRun: boolean;
  ca?: { cert: Certificate; key: KeyObject };
  confirm: (question: string) => Promise<Refusal | undefined>;
  events: RolloutEvents;
}

const SPEC = {
  kind: 'kubelet renew' as const,
  needsEveryNode: 'some nodes cannot be reached',
  interrupted: (err: string) => [`Interrupted: ${err}`],
};

export function renewKubeletsOfCluster(nodes: InventoryNode[], o: KubeletRenewOptions): Promise<OperationOutcome> {
  return clusterOperation(nodes, SPEC, o, async (op, members) => {
    const due = await dueNodes(op, members, o);
    if (due.length === 0) return op.finish('nothing-to-do', 'Nothing to renew on any node.');
    if (o.dryRun) return op.finish('dry-run', '(dry run: nothing was changed)');
    const cps = members.filter((m) => m.node.role === 'control-plane');
    const ca = o.ca ?? (await clusterCa(cps, o.scan));
    if (!ca)
      return op.refuse(
        'invalid',
        'No selected control-plane node has the cluster CA key: include one (--nodes) or give --ca-cert and --ca-key.',
      );
    const refused = await o.confirm(`Renew the kubelet client certificate of ${due.length} node(s)?`);
    if (refused !== undefined) return op.refuse(refused, 'Nothing was changed.');
    op.report.rollout = newRolloutId();
    const settings = { ...o.settings, names: ['kubelet-client'], ifExpiresWithinMs: undefined };
    const api = await adminAccess(cps, o.scan);
    const reason = `kubelet renew (rollout ${op.report.rollout})`;
    const bad = await renewKubeletsInBatches(op, {
      members: due,
      batchSize: o.settings.maxUnavailable,
      journalOf: (m) => memoryJournal(m, op, 'kubelet renew', settings),
      reason,
      scan: o.scan,
      ca,
      api: api?.access,
    });
    if (bad) {
      markUntouched(op);
      return op.finish(
        'stopped',
        'STOPPED: a node did not come back with its renewed kubelet certificate (rolled back); the rest were left alone.',
      );
    }
    return op.finish('complete', `${due.length} kubelet client certificate(s) renewed, every node Ready.`);
  });
}

/** The nodes whose kubelet client certificate falls in the window; the others are finished as unchanged. */
async function dueNodes(op: Operation, members: ClusterMember[], o: KubeletRenewOptions): Promise<ClusterMember[]> {
  const now = new Date();
  const due: ClusterMember[] = [];
  for (const m of members) {
    const status = await kubeletStatus(m.host, await scanNode(m.host, o.scan));
    const isDue = kubeletClientDue(status, o.settings.ifExpiresWithinMs ?? Number.POSITIVE_INFINITY, now);
    op.events.planned({
      node: m.node.name,
      address: m.node.address,
      role: m.node.role,
      kubelet: { client: status.client, clientDue: isDue },
    });
    if (isDue) due.push(m);
    else op.events.finished(m.node.name, 'unchanged', status.client ? 'not within the window' : 'no kubelet client certificate');
  }
  return due;
}
