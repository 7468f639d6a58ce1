// Workers of a rollout: the kubelet client certificate (the only certificate a kubeadm worker has that expires)
// re-signed offline with the cluster CA held in memory, written the kubelet's way, the kubelet restarted, and the
// node verified Ready with its kubelet seen since. In batches of --max-unavailable; a failed batch stops the rest.
import type { Certificate } from '../pki/certificate.js';
import type { KeyObject } from 'node:crypto';
import { withNodeLock } from '../node/txn/index.js';
import { readBackup } from '../node/txn/index.js';
import { restoreBackup } from '../node/txn/index.js';
import { KubeletStatus, kubeletClientDue, kubeletNodeName, kubeletStatus, planKubeletRenewal } from '../node/kubelet/index.js';
import { scanNode, ScanOptions } from '../node/scan/index.js';
import { planRenewal, RenewalPlan } from '../node/renew/index.js';
import { KpkiError } from '../errors.js';
import type { NodeScan } from '../node/scan/index.js';
import { materialize } from '../node/renew/index.js';
import type { SshHost } from '../hosts/ssh.js';
import { readServices } from '../service/health.js';
import { restartComponent } from '../service/restart.js';
import { ApiAccess } from '../api/client.js';
import { waitNodeReady } from '../api/node-ready.js';
import type { NodeJournal } from './rollout/journal.js';
import type { InventoryNode } from './inventory/model.js';
import type { NodeRenewalOutcome } from './rollout/node-step.js';
import { changesOf, journaledWrite, PlannedWrites } from './rollout/journaled-write.js';
import { importPlanFor } from './import-plan.js';
import { repairNode } from '../service/renew-node.js';
import type { NodeReport, RolloutEvents } from './outcome.js';

export interface WorkerContext {
  scan: ScanOptions;
  events: RolloutEvents;
  report: NodeReport;
  journal: NodeJournal;
  reason: string;
  /** The cluster CA (in memory), to sign the kubelet's client certificate; not needed for its serving certificate. */
  ca?: { cert: Certificate; key: KeyObject };
  /** For the Ready check; without it (API not reachable from here) the check is skipped with a note. */
  api?: ApiAccess;
  /** What to write instead of the due kubelet certificates (a CA rotation's phase on a worker). */
  plan?: WorkerPlan;
}

/** A worker's writes for an operation other than a renewal; the kubelet is restarted after them. */
export type WorkerPlan = (host: SshHost, scan: NodeScan, status: KubeletStatus) => Promise<PlannedWrites | undefined>;

const KUBELET_NAMES = ['all', 'kubelet-client', 'kubelet.conf'];

export async function renewWorker(node: InventoryNode, host: SshHost, ctx: WorkerContext): Promise<NodeRenewalOutcome> {
  const { events, journal, report } = ctx;
  const settings = journal.state.settings;
  const log = (line: string) => events.log(line, node.name);
  events.step(node.name, 'lock');
  return withNodeLock(host, async () => {
    await repairNode(host, { log });
    const scan = await scanNode(host, ctx.scan);
    const status = await kubeletStatus(host, scan);
    const written = await journaledWrite(
      host,
      { journal, reason: ctx.reason, log, step: (what) => events.step(node.name, what) },
      async () => {
        if (ctx.plan) return ctx.plan(host, scan, status);
        if (settings.work.kind === 'import') {
          const signed = await importPlanFor(host, scan, settings.work.from, node.name, new Date());
          return signed.plan.items.length ? { writes: signed.writes, changes: changesOf(signed.plan) } : undefined;
        }
        const { clientDue, serving } = dueOnWorker(scan, status, settings, new Date());
        if (!clientDue && !serving?.items.length) return undefined;
        const writes = serving?.items.length ? await materialize(host, scan, serving) : [];
        const changes = serving ? changesOf(serving) : [];
        if (clientDue) {
          if (!ctx.ca) throw new KpkiError(`${node.name}: its kubelet client certificate is due, and no CA key was found to sign it`);
          const renewal = await planKubeletRenewal(host, status, ctx.ca, {
            nodeName: kubeletNodeName(status),
            validityMs: settings.validityMs ?? 365 * 86_400_000,
            now: new Date(),
          });
          writes.unshift(...renewal.writes);
          changes.unshift({
            name: 'kubelet-client',
            oldNotAfter: status.client!.notAfter.toISOString(),
            newNotAfter: renewal.notAfter.toISOString(),
          });
        }
        return { writes, changes };
      },
    );
    if (written.outcome === 'unchanged') return { outcome: 'unchanged' };
    const { backup } = written;
    if (written.fresh) {
      for (const c of journal.state.changes ?? []) log(`${describeChange(c)}; backup ${backup.id}`);
    }
    report.backup = backup.id;
    report.certificates = journal.state.changes ?? [{ name: 'kubelet-client' }];
    const since = new Date(backup.createdAt);
    events.step(node.name, 'restart kubelet');
    const services = await readServices(host, ctx.scan.kubeconfigDir);
    const restarted = await restartComponent(host, services, 'kubelet', { strategy: 'systemd', timeoutMs: settings.timeoutMs, log });
    if (restarted.skipped) log(`note: ${restarted.skipped}`);
    else report.restarted = ['kubelet'];
    if (!restarted.ok) return await undo(host, backup, `kubelet: ${restarted.detail}`, log);
    await journal.inService('kubelet');
    if (!ctx.api) {
      log('note: the API server is not reachable from here: node Ready not verified');
      return { outcome: 'renewed' };
    }
    events.step(node.name, 'node Ready');
    const nodeName = kubeletNodeName(await kubeletStatus(host, await scanNode(host, ctx.scan)));
    const ready = await waitNodeReady(ctx.api, nodeName, since, Math.min(settings.timeoutMs, 180_000));
    log(`node ${nodeName}: ${ready.detail}`);
    if (!ready.ok) return await undo(host, backup, `node ${nodeName} ${ready.detail}`, log);
    return { outcome: 'renewed' };
  });
}

function describeChange(c: { name: string; newNotAfter?: string }): string {
  const what =
    c.name === 'kubelet-client'
      ? 'kubelet client certificate renewed'
      : c.name === 'kubelet-serving'
        ? "kubelet serving certificate renewed in the kubelet's shape"
        : `${c.name} written`;
  return `${what}${c.newNotAfter ? `, valid until ${c.newNotAfter}` : ''}`;
}

/**
 * What a worker needs, the one place that says so: its kubelet client certificate (signed with the cluster CA) when
 * named and within the window, and its serving certificate (the kubelet's own shape: no cluster CA) likewise.
 */
export function dueOnWorker(
  scan: NodeScan,
  status: KubeletStatus,
  settings: { names: string[]; ifExpiresWithinMs?: number; validityMs?: number },
  now: Date,
): { clientDue: boolean; serving?: RenewalPlan } {
  const wanted = (names: string[]) => settings.names.length === 0 || settings.names.some((n) => names.includes(n));
  const window = settings.ifExpiresWithinMs ?? Number.POSITIVE_INFINITY;
  const clientDue = wanted(KUBELET_NAMES) && kubeletClientDue(status, window, now);
  if (!wanted(['all', 'kubelet-serving']) || !scan.entries.find((e) => e.name === 'kubelet-serving')?.renewable) return { clientDue };
  try {
    const serving = planRenewal(scan, {
      names: ['kubelet-serving'],
      ifExpiresWithinMs: settings.ifExpiresWithinMs,
      validityMs: settings.validityMs,
      now,
    });
    return { clientDue, serving: serving.items.length ? serving : undefined };
  } catch {
    return { clientDue };
  }
}

async function undo(
  host: SshHost,
  backup: Awaited<ReturnType<typeof readBackup>>,
  detail: string,
  log: (l: string) => void,
): Promise<NodeRenewalOutcome> {
  log(`${detail}: restoring backup ${backup.id}`);
  await restoreBackup(host, backup, `rollback to ${backup.id}`);
  const r = await restartComponent(host, await readServices(host), 'kubelet', { strategy: 'systemd', timeoutMs: 120_000, log });
  return { outcome: 'rolled-back', detail: `${detail}${r.skipped ? ` (kubelet not restarted: ${r.skipped})` : ''}` };
}
