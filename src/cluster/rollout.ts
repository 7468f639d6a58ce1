// Rolling renewal of a whole cluster from the operator's machine. Pre-flight: reach and read every node, plan every
// node, require a healthy control plane with an etcd member to spare. Then control-plane nodes one at a time (node:
// backup → renew → into service → node gate; then the cluster gate), stopping at the first node that does not come
// back (rolled back; the nodes after it untouched), then workers in batches. A journal on every node lets --resume
// continue a rollout that was killed anywhere.
import { kubeletStatus } from '../node/kubelet.js';
import type { NodeInventory } from '../node/inventory.js';
import { planRenewal, RenewalPlan } from '../node/plan.js';
import { scanNode, ScanOptions } from '../node/scan.js';
import type { SshHost } from '../hosts/ssh.js';
import { waitNodeReady } from '../service/node-ready.js';
import { connectAll, ConnectOptions } from './connect.js';
import { clusterGateProblems, preflightProblems, waitGate } from './gates.js';
import type { InventoryNode } from './inventory/model.js';
import { clearRolloutJournal, NodeJournal, newRolloutId, operatorName, readRolloutJournal, RolloutJournal, RolloutSettings, writeRolloutJournal } from './journal.js';
import { renewControlPlaneNode, rollBackNode } from './node-renewal.js';
import { NodeReport, RolloutEvents, RolloutReport, startOperation } from './report.js';
import { dueOnWorker, renewWorker } from './workers.js';
import { adminAccess, clusterCa } from './cluster-access.js';

export interface RolloutOptions extends ConnectOptions {
  settings: RolloutSettings;
  scan: ScanOptions;
  concurrency: number;
  force: boolean;
  dryRun: boolean;
  resume: boolean;
  confirm: (question: string) => Promise<number | undefined>;
  events: RolloutEvents;
  /** --update-kubeconfig: given the renewed admin.conf of this cluster, updates the operator's kubeconfig. */
  updateKubeconfig?: (adminConf: string, from: string) => Promise<string[]>;
}

interface Member {
  node: InventoryNode;
  host: SshHost;
  inventory: NodeInventory;
  journal?: RolloutJournal;
  plan?: RenewalPlan;
  workerDue?: boolean;
  /** Its kubelet client certificate is due: only that needs the cluster CA. */
  workerClientDue?: boolean;
}

export interface RolloutOutcome {
  code: number;
  report: RolloutReport;
}


/** Journals left by an interrupted rollout: one rollout, its node order; refuses a mix. */
function interruptedRollout(members: Member[]): RolloutJournal | undefined {
  const journals = members.map((m) => m.journal).filter((j): j is RolloutJournal => j !== undefined);
  if (journals.length === 0) return undefined;
  const ids = new Set(journals.map((j) => j.rollout));
  if (ids.size > 1) throw new Error(`the nodes hold journals of different rollouts (${[...ids].join(', ')}): finish or remove them one at a time`);
  return journals[0];
}

export async function rollout(nodes: InventoryNode[], o: RolloutOptions): Promise<RolloutOutcome> {
  const { report, events, entry, finish } = startOperation('renew', nodes.map((n) => ({ name: n.name, address: n.address, role: n.role })), o.events);
  const reached = await connectAll(nodes, { ...o, concurrency: o.concurrency, onNotice: (line) => events.log(line) });
  const members: Member[] = [];
  try {
    for (const r of reached.filter((x) => x.error)) {
      events.finished(r.node.name, 'unreachable', r.error);
    }
    if (reached.some((r) => r.error)) return finish(1, 'refused', `Refusing to start: a rollout needs every node (limit it with --nodes):\n  ${reached.filter((r) => r.error).map((r) => r.error).join('\n  ')}`);
    for (const r of reached) members.push({ node: r.node, host: r.host!, inventory: await scanNode(r.host!, o.scan), journal: await readRolloutJournal(r.host!) });

    // A rollout that was interrupted: continue it (--resume), never start another over it.
    const previous = interruptedRollout(members);
    if (previous && !o.resume) {
      return finish(1, 'refused', `An interrupted rollout ${previous.rollout} (started ${previous.startedAt} by ${previous.by}) left its journal on ${members.filter((m) => m.journal).map((m) => m.node.name).join(', ')}: continue it with --resume.`);
    }
    if (!previous && o.resume) return finish(0, 'nothing-to-do', 'No interrupted rollout on these nodes: nothing to resume.');
    const settings = previous?.settings ?? o.settings;
    const rolloutId = previous?.rollout ?? newRolloutId();
    report.rollout = rolloutId;
    report.resumed = Boolean(previous);
    const reason = `renew (rollout ${rolloutId})`;
    if (previous) {
      const missing = previous.nodes.filter((n) => !members.some((m) => m.node.name === n));
      if (missing.length) return finish(1, 'refused', `Rollout ${rolloutId} also covers ${missing.join(', ')}: resume it with the same nodes (--nodes ${previous.nodes.join(',')}).`);
      const allDone = members.every((m) => !m.journal || m.journal.step === 'done');
      // journals are written on every node before the first change and removed only at the very end
      for (const m of members) m.journal ??= { ...previous, node: m.node.name, step: allDone ? 'done' : 'pending', backup: undefined, renewed: undefined, changes: undefined, inService: undefined };
      members.sort((a, b) => previous.nodes.indexOf(a.node.name) - previous.nodes.indexOf(b.node.name));
      events.log(`Resuming rollout ${rolloutId} (started ${previous.startedAt} by ${previous.by}) with its settings: ${members.map((m) => `${m.node.name} ${m.journal!.step}`).join(', ')}`);
    }

    // Plans: what each node still needs.
    const now = new Date();
    for (const m of members.filter((x) => x.node.role === 'control-plane' && (x.journal?.step ?? 'pending') === 'pending')) {
      m.plan = planRenewal(m.inventory, { ...settings, now });
      events.planned({ node: m.node.name, address: m.node.address, role: m.node.role, plan: m.plan });
    }
    for (const m of members.filter((x) => x.node.role === 'worker' && (x.journal?.step ?? 'pending') === 'pending')) {
      const status = await kubeletStatus(m.host, m.inventory);
      const due = dueOnWorker(m.inventory, status, settings, now);
      m.workerDue = due.clientDue || due.serving !== undefined;
      m.workerClientDue = due.clientDue;
      const servingDue = due.serving ? { notAfter: due.serving.items[0].oldNotAfter } : undefined;
      events.planned({ node: m.node.name, address: m.node.address, role: m.node.role, kubelet: { client: status.client, clientDue: due.clientDue, servingDue } });
    }
    const cps = members.filter((m) => m.node.role === 'control-plane');
    const workers = members.filter((m) => m.node.role === 'worker');
    const needsWork = (m: Member) => (m.journal && m.journal.step !== 'pending' ? m.journal.step !== 'done' : m.plan ? m.plan.items.length > 0 : Boolean(m.workerDue));
    const cpWork = cps.filter(needsWork);
    const workerWork = workers.filter(needsWork);
    for (const m of members.filter((x) => !needsWork(x))) {
      const renewedBefore = previous !== undefined && m.journal?.step === 'done' && m.journal.outcome !== 'unchanged';
      if (renewedBefore) entry(m.node.name).resumed = true;
      events.finished(m.node.name, renewedBefore ? 'renewed' : 'unchanged', renewedBefore ? 'done before the resume' : 'nothing to renew');
    }
    if (cpWork.length === 0 && workerWork.length === 0) {
      if (previous) for (const m of members) await clearRolloutJournal(m.host);
      return finish(0, 'nothing-to-do', previous ? `Rollout ${rolloutId} had finished every node; its journals are removed.` : 'Nothing to renew on any node.');
    }
    if (o.dryRun) return finish(0, 'dry-run', '(dry run: nothing was changed)');

    if (!previous) {
      const problems = await preflightProblems(members, o.scan);
      if (problems.length > 0 && !o.force) return finish(1, 'refused', `Refusing to start: the control plane is not healthy now (use --force for a recovery):\n  ${problems.join('\n  ')}`);
      if (problems.length > 0) events.log(`--force: starting although:\n  ${problems.join('\n  ')}`);
    }
    const refused = await o.confirm(`${previous ? 'Resume: renew' : 'Renew'} ${cpWork.length} control-plane node(s) one at a time, then ${workerWork.length} worker(s) ${settings.maxUnavailable} at a time?`);
    if (refused !== undefined) return finish(refused, 'refused', 'Nothing was changed.');

    if (!previous) {
      const journal: Omit<RolloutJournal, 'node' | 'step'> = { rollout: rolloutId, operation: 'renew', startedAt: report.startedAt, by: operatorName(), settings, nodes: members.map((m) => m.node.name), updatedAt: '' };
      for (const m of members) {
        m.journal = needsWork(m) ? { ...journal, node: m.node.name, step: 'pending' } : { ...journal, node: m.node.name, step: 'done', outcome: 'unchanged' };
        await writeRolloutJournal(m.host, m.journal);
      }
    }
    const stop = async (at: Member, why: string): Promise<RolloutOutcome> => {
      const untouched = members.filter((m) => m !== at && entry(m.node.name).outcome === 'pending');
      for (const m of untouched) events.finished(m.node.name, 'not-touched');
      for (const m of members) await clearRolloutJournal(m.host);
      return finish(1, 'stopped', `Rollout STOPPED at ${at.node.name} (${why}). Not touched: ${untouched.map((m) => m.node.name).join(', ') || 'no other node'}.`);
    };

    // Control-plane nodes, one at a time.
    for (const [i, m] of cpWork.entries()) {
      events.log(`\n== [${i + 1}/${cpWork.length}] ${m.node.name}`);
      const ctx = { scan: o.scan, events, report: entry(m.node.name), journal: new NodeJournal(m.host, m.journal!), reason };
      const started = Date.now();
      const result = await renewControlPlaneNode(m.node, m.host, ctx);
      if (result.outcome === 'rolled-back' || result.outcome === 'failed') {
        events.finished(m.node.name, result.outcome, result.detail);
        return await stop(m, result.outcome === 'rolled-back' ? 'rolled back to its backup' : 'ROLLBACK INCOMPLETE: see above');
      }
      if (result.outcome === 'renewed') {
        events.step(m.node.name, 'cluster gate');
        let gate = await waitGate(() => clusterGateProblems(members, o.scan), settings.timeoutMs);
        if (gate.length === 0 && ctx.journal.state.renewed?.some((n) => n === 'kubelet-client' || n === 'kubelet.conf')) gate = await nodeReadyGate(members, m, started, settings.timeoutMs, o.scan);
        if (gate.length > 0) {
          events.log(`cluster gate failed after ${m.node.name}:\n  ${gate.join('\n  ')}`, m.node.name);
          const back = await rollBackNode(m.node, m.host, ctx);
          events.finished(m.node.name, back.ok ? 'rolled-back' : 'failed', `cluster gate: ${gate[0]}`);
          return await stop(m, back.ok ? 'the cluster gate failed; rolled back to its backup' : `the cluster gate failed; ROLLBACK INCOMPLETE: ${back.detail}`);
        }
      }
      await ctx.journal.set({ step: 'done', outcome: result.outcome });
      events.finished(m.node.name, result.outcome, result.outcome === 'renewed' ? `in ${((Date.now() - started) / 1000).toFixed(1)} s; every control-plane node healthy` : 'nothing to renew');
    }

    // Workers, in batches.
    if (workerWork.length > 0) {
      const ca = await clusterCa(cps, o.scan);
      // (a resumed worker may be past its plan: it needs the CA unless it was only its serving certificate)
      const needCa = workerWork.some((m) => m.workerClientDue !== false);
      if (!ca && needCa) return await stop(workerWork[0], 'no control-plane node has the CA key to sign kubelet certificates');
      const api = await adminAccess(cps, o.scan);
      for (let i = 0; i < workerWork.length; i += settings.maxUnavailable) {
        const batch = workerWork.slice(i, i + settings.maxUnavailable);
        const results = await Promise.all(
          batch.map(async (m) => {
            const journal = new NodeJournal(m.host, m.journal!);
            const result = await renewWorker(m.node, m.host, { scan: o.scan, events, report: entry(m.node.name), journal, reason: `kubelet renew (rollout ${rolloutId})`, ca, api: api?.access });
            if (result.outcome === 'renewed' || result.outcome === 'unchanged') await journal.set({ step: 'done', outcome: result.outcome });
            events.finished(m.node.name, result.outcome, 'detail' in result ? result.detail : undefined);
            return { m, result };
          }),
        );
        const bad = results.find((r) => r.result.outcome === 'failed' || r.result.outcome === 'rolled-back');
        if (bad) return await stop(bad.m, `worker ${bad.result.outcome}`);
      }
    }

    if (o.updateKubeconfig) {
      const admin = await adminAccess(cps, o.scan);
      if (admin) for (const line of await o.updateKubeconfig(admin.text, admin.from)) events.log(line);
      else events.log('--update-kubeconfig: no control-plane node has an admin.conf: nothing to update');
    }
    for (const m of members) await clearRolloutJournal(m.host);
    return finish(0, 'complete', `Rollout ${rolloutId} complete: ${cpWork.length} control-plane node(s) and ${workerWork.length} worker(s) renewed, every node healthy.`);
  } catch (err) {
    return finish(1, 'interrupted', `Rollout interrupted: ${(err as Error).message}`, `Every node keeps its journal: fix the cause, then continue with the same command and --resume (nothing is done twice).`);
  } finally {
    for (const r of reached) r.host?.close();
  }
}

/** A control-plane node whose kubelet certificate was renewed: Ready, its kubelet seen since. */
export async function nodeReadyGate(members: { node: InventoryNode; host: SshHost }[], m: { node: InventoryNode; host: SshHost }, since: number, timeoutMs: number, scan: ScanOptions): Promise<string[]> {
  const admin = await adminAccess(members.filter((x) => x.node.role === 'control-plane'), scan);
  if (!admin) return [];
  const status = await kubeletStatus(m.host, await scanNode(m.host, scan));
  const name = /^system:node:(.+)$/.exec(status.client?.commonName ?? '')?.[1] ?? m.node.name;
  const ready = await waitNodeReady(admin.access, name, new Date(since), Math.min(timeoutMs, 120_000));
  return ready.ok ? [] : [`${m.node.name}: node ${name} ${ready.detail}`];
}

export type { NodeReport };
