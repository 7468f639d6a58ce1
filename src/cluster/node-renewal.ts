// One control-plane node of a rollout, from wherever its journal says it got: lock, repair what an interrupted run
// left (half-written files, parked manifests), back up and renew, bring into service, the node's gate. A node that
// does not come back is rolled back to its backup. Each step is written to the node's journal first.
import { acquireLock, applyWrites, recoverInterrupted } from '../node/apply.js';
import { changedSince, listBackups, readBackup } from '../node/backup.js';
import { updateRootKubeconfig } from '../node/kubeconfig-update.js';
import { materialize } from '../node/materialize.js';
import { planRenewal } from '../node/plan.js';
import { scanNode, ScanOptions } from '../node/scan.js';
import type { SshHost } from '../hosts/ssh.js';
import { restoreParked } from '../service/parked.js';
import { bringIntoService, rollBack } from '../service/into-service.js';
import { nodeProblems, waitGate } from './gates.js';
import type { NodeJournal } from './journal.js';
import type { InventoryNode } from './inventory/model.js';
import type { NodeReport, RolloutEvents } from './report.js';

export interface NodeRenewalContext {
  scan: ScanOptions;
  events: RolloutEvents;
  report: NodeReport;
  journal: NodeJournal;
  /** What the rollout's backups are called on the nodes, e.g. "renew (rollout r2026...)". */
  reason: string;
}

export type NodeRenewalOutcome = { outcome: 'renewed' | 'unchanged' } | { outcome: 'rolled-back' | 'failed'; detail: string };

/** An interrupted "writing" step: did its writes complete (the files differ from the backup it took)? */
export async function completedWrites(host: SshHost, reason: string): Promise<string | undefined> {
  const mine = (await listBackups(host)).filter((b) => b.reason === reason);
  for (const b of mine.reverse()) if (await changedSince(host, b)) return b.id;
  return undefined;
}

export async function renewControlPlaneNode(node: InventoryNode, host: SshHost, ctx: NodeRenewalContext): Promise<NodeRenewalOutcome> {
  const { events, journal, report } = ctx;
  const settings = journal.state.settings;
  const log = (line: string) => events.log(line, node.name);
  const serviceOptions = { strategy: settings.strategy, timeoutMs: settings.timeoutMs, kubeconfigDir: ctx.scan.kubeconfigDir, log };
  events.step(node.name, 'lock');
  const lock = await acquireLock(host);
  try {
    const recovered = await recoverInterrupted(host);
    if (recovered) log(recovered);
    for (const line of await restoreParked(host)) log(line);
    if (journal.state.step === 'writing') {
      // killed around the writes: recoverInterrupted rolled back a half-done write; a finished one stands
      const backup = await completedWrites(host, ctx.reason);
      await journal.set(backup ? { step: 'written', backup } : { step: 'pending' });
      if (backup) log(`the interrupted run had renewed the files (backup ${backup}): continuing with bringing them into service`);
    }
    if (journal.state.step === 'pending') {
      events.step(node.name, 'plan');
      const inventory = await scanNode(host, ctx.scan);
      const plan = planRenewal(inventory, { ...settings, now: new Date() });
      if (plan.items.length === 0) {
        await journal.set({ step: 'done', outcome: 'unchanged' });
        return { outcome: 'unchanged' };
      }
      const renewed = plan.items.map((i) => i.name);
      const changes = plan.items.map((i) => ({ name: i.name, oldNotAfter: i.oldNotAfter.toISOString(), newNotAfter: i.newNotAfter.toISOString() }));
      await journal.set({ step: 'writing', renewed, changes });
      events.step(node.name, `backup + write ${renewed.length} certificate(s)`);
      const { backup } = await applyWrites(host, await materialize(host, inventory, plan), ctx.reason);
      await journal.set({ step: 'written', backup: backup.id });
      log(`renewed ${renewed.length} certificate(s); backup ${backup.id}`);
    }
    const renewed = journal.state.renewed ?? [];
    const backup = await readBackup(host, journal.state.backup!);
    report.backup = backup.id;
    report.certificates = journal.state.changes ?? renewed.map((name) => ({ name }));
    events.step(node.name, 'bring into service');
    const result = await bringIntoService(host, renewed, backup, { ...serviceOptions, done: journal.state.inService, onInService: (c) => journal.inService(c) });
    report.reloaded = result.reloaded;
    report.restarted = result.restarted;
    for (const note of result.notes) log(`note: ${note}`);
    if (!result.ok) {
      const f = result.failure!;
      return { outcome: f.rollbackOk ? 'rolled-back' : 'failed', detail: `${f.component}: ${f.detail}${f.rollbackOk ? '' : `; ROLLBACK INCOMPLETE: ${f.rollbackDetail}`}` };
    }
    await updateRootKubeconfig(host, renewed, '/root/.kube/config', log, ctx.scan.kubeconfigDir);
    events.step(node.name, 'node gate');
    const problems = await waitGate(() => nodeProblems({ node, host }, ctx.scan), Math.min(settings.timeoutMs, 120_000));
    if (problems.length > 0) {
      log(`node gate failed:\n  ${problems.join('\n  ')}`);
      const back = await rollBack(host, renewed, backup, { ...serviceOptions, reloaded: result.reloaded, restarted: [...result.restarted] });
      return { outcome: back.ok ? 'rolled-back' : 'failed', detail: `node gate: ${problems[0]}${back.ok ? '' : `; ROLLBACK INCOMPLETE: ${back.detail}`}` };
    }
    return { outcome: 'renewed' };
  } finally {
    await lock.release();
  }
}

/** The cluster gate failed after this node: its backup is put back (under its lock) and brought into service again. */
export async function rollBackNode(node: InventoryNode, host: SshHost, ctx: NodeRenewalContext): Promise<{ ok: boolean; detail?: string }> {
  const lock = await acquireLock(host);
  try {
    const settings = ctx.journal.state.settings;
    const backup = await readBackup(host, ctx.journal.state.backup!);
    return await rollBack(host, ctx.journal.state.renewed ?? [], backup, { strategy: settings.strategy, timeoutMs: settings.timeoutMs, kubeconfigDir: ctx.scan.kubeconfigDir, log: (line) => ctx.events.log(line, node.name), reloaded: ctx.report.reloaded, restarted: ctx.report.restarted });
  } finally {
    await lock.release();
  }
}
