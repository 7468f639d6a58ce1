// One control-plane node of a rollout, from wherever its journal says it got: lock, repair what an interrupted run
// left (half-written files, parked manifests), back up and renew, bring into service, the node's gate. A node that
// does not come back is rolled back to its backup. Each step is written to the node's journal first.
import { withNodeLock } from '../../node/txn/index.js';
import { readBackup } from '../../node/txn/index.js';
import { updateRootKubeconfig } from '../../node/kubeconfig/index.js';
import { materialize } from '../../node/renew/index.js';
import { configEdits, kubeadmConfigWrites } from '../../node/renew/index.js';
import { planRenewal } from '../../node/renew/index.js';
import { scanNode, ScanOptions } from '../../node/scan/index.js';
import type { SshHost } from '../../hosts/ssh.js';
import { repairNode } from '../../service/renew-node.js';
import { changesOf, journaledWrite } from './journaled-write.js';
import { importPlanFor } from '../import-plan.js';
import { bringIntoService, rollBack, type Written } from '../../service/into-service.js';
import { caPhaseWrites } from '../ca-phase.js';
import type { NewSigner } from '../../node/rotation/index.js';
import { nodeProblems, waitGate } from '../gates.js';
import { type NodeJournal, planOptionsOf } from './journal.js';
import type { InventoryNode } from '../inventory/model.js';
import type { NodeReport, RolloutEvents } from '../outcome.js';

export interface NodeRenewalContext {
  scan: ScanOptions;
  events: RolloutEvents;
  report: NodeReport;
  journal: NodeJournal;
  /** What the rollout's backups are called on the nodes, e.g. "renew (rollout r2026...)". */
  reason: string;
  /** kpki ca rotate, trust phase: the new CA (held in memory; written to control-plane nodes only). */
  nextCa?: NewSigner;
}

export type NodeRenewalOutcome = { outcome: 'renewed' | 'unchanged' } | { outcome: 'rolled-back' | 'failed'; detail: string };

export async function renewControlPlaneNode(node: InventoryNode, host: SshHost, ctx: NodeRenewalContext): Promise<NodeRenewalOutcome> {
  const { events, journal, report } = ctx;
  const settings = journal.state.settings;
  const log = (line: string) => events.log(line, node.name);
  const serviceOptions = { strategy: settings.strategy, timeoutMs: settings.timeoutMs, kubeconfigDir: ctx.scan.kubeconfigDir, log };
  events.step(node.name, 'lock');
  return withNodeLock(host, async () => {
    await repairNode(host, { unpark: true, log });
    const written = await journaledWrite(
      host,
      { journal, reason: ctx.reason, log, step: (what) => events.step(node.name, what) },
      async () => {
        events.step(node.name, 'plan');
        const scan = await scanNode(host, ctx.scan);
        const work = settings.work;
        if (work.kind === 'ca-phase') return caPhaseWrites(host, scan, work, ctx.nextCa);
        if (work.kind === 'import') {
          const signed = await importPlanFor(host, scan, work.from, node.name, new Date());
          return signed.plan.items.length ? { writes: signed.writes, changes: changesOf(signed.plan) } : undefined;
        }
        // renew and san (the other kinds never reach a control-plane node's renewal)
        const plan = planRenewal(scan, { ...planOptionsOf(settings), now: new Date() });
        if (!plan.items.length) return undefined;
        // the node's kubeadm config file records what changes (names, the key algorithm) in the same transaction
        const config = await kubeadmConfigWrites(host, scan, configEdits(planOptionsOf(settings)));
        return { writes: [...(await materialize(host, scan, plan)), ...config], changes: changesOf(plan) };
      },
    );
    if (written.outcome === 'unchanged') return { outcome: 'unchanged' };
    const { backup } = written;
    if (written.fresh) log(`renewed ${journal.state.renewed!.length} certificate(s); backup ${backup.id}`);
    const renewed: Written = { renewed: journal.state.renewed ?? [], restart: journal.state.restart };
    report.backup = backup.id;
    report.certificates = journal.state.changes ?? renewed.renewed.map((name) => ({ name }));
    events.step(node.name, 'bring into service');
    const result = await bringIntoService(host, renewed, backup, {
      ...serviceOptions,
      done: journal.state.inService,
      onInService: (c) => journal.inService(c),
    });
    report.reloaded = result.reloaded;
    report.restarted = result.restarted;
    for (const note of result.notes) log(`note: ${note}`);
    if (!result.ok) {
      const f = result.failure!;
      return {
        outcome: f.rollbackOk ? 'rolled-back' : 'failed',
        detail: `${f.component}: ${f.detail}${f.rollbackOk ? '' : `; ROLLBACK INCOMPLETE: ${f.rollbackDetail}`}`,
      };
    }
    await updateRootKubeconfig(host, renewed.renewed, '/root/.kube/config', log, ctx.scan.kubeconfigDir);
    events.step(node.name, 'node gate');
    const problems = await waitGate(() => nodeProblems({ node, host }, ctx.scan), Math.min(settings.timeoutMs, 120_000));
    events.gated({ gate: 'node', after: node.name, ok: problems.length === 0, problems });
    if (problems.length > 0) {
      const back = await rollBack(host, renewed, backup, {
        ...serviceOptions,
        reloaded: result.reloaded,
        restarted: [...result.restarted],
      });
      return {
        outcome: back.ok ? 'rolled-back' : 'failed',
        detail: `node gate: ${problems[0]}${back.ok ? '' : `; ROLLBACK INCOMPLETE: ${back.detail}`}`,
      };
    }
    return { outcome: 'renewed' };
  });
}

/** The cluster gate failed after this node: its backup is put back (under its lock) and brought into service again. */
export async function rollBackNode(node: InventoryNode, host: SshHost, ctx: NodeRenewalContext): Promise<{ ok: boolean; detail?: string }> {
  return withNodeLock(host, async () => {
    const settings = ctx.journal.state.settings;
    const backup = await readBackup(host, ctx.journal.state.backup!);
    return await rollBack(host, { renewed: ctx.journal.state.renewed ?? [], restart: ctx.journal.state.restart }, backup, {
      strategy: settings.strategy,
      timeoutMs: settings.timeoutMs,
      kubeconfigDir: ctx.scan.kubeconfigDir,
      log: (line) => ctx.events.log(line, node.name),
      reloaded: ctx.report.reloaded,
      restarted: ctx.report.restarted,
    });
  });
}
