// kpki kubelet renew -i: every node's kubelet client certificate, signed offline with the cluster CA (read into memory
// from a control-plane node, or given), written the kubelet's way, the kubelet restarted, the node verified Ready.
// Control-plane nodes one at a time, then workers --max-unavailable at a time; a node that does not come back is
// rolled back and the rest are left alone.
import type { KeyObject } from 'node:crypto';
import type { Certificate } from '../pki/certificate.js';
import { kubeletClientDue, kubeletStatus } from '../node/kubelet.js';
import { scanNode, ScanOptions } from '../node/scan.js';
import { adminAccess, clusterCa } from './cluster-access.js';
import { connectAll, ConnectOptions } from './connect.js';
import type { InventoryNode } from './inventory/model.js';
import { NodeJournal, newRolloutId, operatorName, RolloutSettings } from './journal.js';
import { RolloutEvents, startOperation } from './report.js';
import type { RolloutOutcome } from './rollout.js';
import { renewWorker } from './workers.js';

export interface KubeletRenewOptions extends ConnectOptions {
  settings: RolloutSettings;
  scan: ScanOptions;
  concurrency: number;
  dryRun: boolean;
  ca?: { cert: Certificate; key: KeyObject };
  confirm: (question: string) => Promise<number | undefined>;
  events: RolloutEvents;
}

export async function renewKubeletsOfCluster(nodes: InventoryNode[], o: KubeletRenewOptions): Promise<RolloutOutcome> {
  const { report, events, entry, finish } = startOperation('kubelet renew', nodes.map((n) => ({ name: n.name, address: n.address, role: n.role })), o.events);
  const reached = await connectAll(nodes, { ...o, concurrency: o.concurrency, onNotice: (line) => events.log(line) });
  try {
    for (const r of reached.filter((x) => x.error)) events.finished(r.node.name, 'unreachable', r.error);
    if (reached.some((r) => r.error)) return finish(1, 'refused', 'Refusing to start: some nodes cannot be reached (limit it with --nodes).');
    const now = new Date();
    const window = o.settings.ifExpiresWithinMs ?? Number.POSITIVE_INFINITY;
    const due: typeof reached = [];
    for (const r of reached) {
      const status = await kubeletStatus(r.host!, await scanNode(r.host!, o.scan));
      const isDue = kubeletClientDue(status, window, now);
      events.planned({ node: r.node.name, address: r.node.address, role: r.node.role, kubelet: { client: status.client, clientDue: isDue } });
      if (isDue) due.push(r);
      else events.finished(r.node.name, 'unchanged', status.client ? 'not within the window' : 'no kubelet client certificate');
    }
    if (due.length === 0) return finish(0, 'nothing-to-do', 'Nothing to renew on any node.');
    if (o.dryRun) return finish(0, 'dry-run', '(dry run: nothing was changed)');
    const ca = o.ca ?? (await clusterCa(reached.filter((r) => r.node.role === 'control-plane').map((r) => ({ host: r.host! })), o.scan));
    if (!ca) return finish(2, 'refused', 'No selected control-plane node has the cluster CA key: include one (--nodes) or give --ca-cert and --ca-key.');
    const refused = await o.confirm(`Renew the kubelet client certificate of ${due.length} node(s)?`);
    if (refused !== undefined) return finish(refused, 'refused', 'Nothing was changed.');
    const id = newRolloutId();
    report.rollout = id;
    const api = await adminAccess(reached.filter((r) => r.node.role === 'control-plane').map((r) => ({ host: r.host! })), o.scan);
    const cps = due.filter((r) => r.node.role === 'control-plane');
    const workers = due.filter((r) => r.node.role === 'worker');
    const batches = [...cps.map((r) => [r]), ...Array.from({ length: Math.ceil(workers.length / o.settings.maxUnavailable) }, (_, i) => workers.slice(i * o.settings.maxUnavailable, (i + 1) * o.settings.maxUnavailable))];
    for (const batch of batches) {
      const results = await Promise.all(
        batch.map(async (r) => {
          const journal = new NodeJournal(r.host!, { rollout: id, operation: 'kubelet renew', startedAt: report.startedAt, by: operatorName(), settings: { ...o.settings, names: ['kubelet-client'], ifExpiresWithinMs: undefined }, nodes: [], node: r.node.name, step: 'pending', updatedAt: '' }, false);
          const result = await renewWorker(r.node, r.host!, { scan: o.scan, events, report: entry(r.node.name), journal, reason: `kubelet renew (rollout ${id})`, ca, api: api?.access });
          events.finished(r.node.name, result.outcome, 'detail' in result ? result.detail : undefined);
          return result;
        }),
      );
      if (results.some((x) => x.outcome === 'failed' || x.outcome === 'rolled-back')) {
        for (const n of report.nodes.filter((x) => x.outcome === 'pending')) events.finished(n.node, 'not-touched');
        return finish(1, 'stopped', 'STOPPED: a node did not come back with its renewed kubelet certificate (rolled back); the rest were left alone.');
      }
    }
    return finish(0, 'complete', `${due.length} kubelet client certificate(s) renewed, every node Ready.`);
  } catch (err) {
    return finish(1, 'interrupted', `Interrupted: ${(err as Error).message}`);
  } finally {
    for (const r of reached) r.host?.close();
  }
}
