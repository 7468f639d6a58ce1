// Rolling renewal of a whole cluster from the operator's machine. Pre-flight: reach and read every node, plan every
// node, require a healthy control plane with an etcd member to spare. Then control-plane nodes one at a time (node:
// backup → renew → into service → node gate; then the cluster gate), stopping at the first node that does not come
// back (rolled back; the nodes after it untouched), then workers in batches. A journal on every node lets --resume
// continue a rollout that was killed anywhere.
import { kubeletStatus } from '../node/kubelet/index.js';
import type { NodeScan } from '../node/scan/index.js';
import { planRenewal, RenewalPlan } from '../node/renew/index.js';
import { configEdits } from '../node/renew/index.js';
import { namesInUse } from '../node/renew/index.js';
import { editKubeadmConfig } from '../api/kubeadm-config.js';
import { scanNode, ScanOptions } from '../node/scan/index.js';
import type { ConnectOptions } from './connect.js';
import { preflightProblems } from './gates.js';
import type { InventoryNode } from './inventory/model.js';
import {
  NodeJournal,
  newRolloutId,
  readRolloutJournal,
  RolloutJournal,
  RolloutSettings,
  planOptionsOf,
  sansOf,
} from './rollout/journal.js';
import { clearJournals, stopRollout, writeJournals } from './rollout/journals.js';
import { renewResumeDecision } from './rollout/journal-decision.js';
import { stepControlPlanes } from './rollout/control-planes.js';
import { ClusterMember, clusterOperation, OperationOutcome, renewKubeletsInBatches, updateOperatorKubeconfig } from './operation.js';
import type { NodeReport, Operation, RolloutEvents, RolloutReport, Refusal } from './outcome.js';
import { dueOnWorker } from './workers.js';
import { adminAccess, clusterCa } from './cluster-access.js';
import { importPlanFor } from './import-plan.js';
import { describeError } from '../errors.js';

export interface RolloutOptions extends ConnectOptions {
  settings: RolloutSettings;
  scan: ScanOptions;
  concurrency: number;
  force: boolean;
  dryRun: boolean;
  resume: boolean;
  confirm: (question: string) => Promise<Refusal | undefined>;
  events: RolloutEvents;
  /** kpki san -i --force: remove names although something on a node still uses them. */
  forceNames?: boolean;
  /** --update-kubeconfig: given the renewed admin.conf of this cluster, updates the operator's kubeconfig. */
  updateKubeconfig?: (adminConf: string, from: string) => Promise<string[]>;
}

interface Member extends ClusterMember {
  scan: NodeScan;
  journal?: RolloutJournal;
  plan?: RenewalPlan;
  workerDue?: boolean;
  /** Its kubelet client certificate is due: only that needs the cluster CA. */
  workerClientDue?: boolean;
}

export type RolloutOutcome = OperationOutcome;

/** Where the rollout starts from: new, or the interrupted one it continues. */
interface Start {
  previous?: RolloutJournal;
  settings: RolloutSettings;
  rolloutId: string;
}

const SPEC = {
  kind: 'renew' as const,
  needsEveryNode: 'a rollout needs every node',
  interrupted: (err: string) => [
    `Rollout interrupted: ${err}`,
    'Every node keeps its journal: fix the cause, then continue with the same command and --resume (nothing is done twice).',
  ],
};

export function rollout(nodes: InventoryNode[], o: RolloutOptions): Promise<RolloutOutcome> {
  return clusterOperation(nodes, SPEC, o, async (op, reached) => {
    const members: Member[] = [];
    for (const r of reached) members.push({ ...r, scan: await scanNode(r.host, o.scan), journal: await readRolloutJournal(r.host) });
    const start = resumeOrStart(op, members, o);
    if ('report' in start) return start;
    const wrongImport = await planMembers(op, members, start.settings);
    if (wrongImport) return wrongImport;
    const inUse = namesStillInUse(op, members, start, o);
    if (inUse) return inUse;
    const needsWork = (m: Member) =>
      m.journal && m.journal.step !== 'pending' ? m.journal.step !== 'done' : m.plan ? m.plan.items.length > 0 : Boolean(m.workerDue);
    const cpWork = members.filter((m) => m.node.role === 'control-plane' && needsWork(m));
    const workerWork = members.filter((m) => m.node.role === 'worker' && needsWork(m));
    const done = finishUnneeded(op, members, start, needsWork, o);
    if (cpWork.length === 0 && workerWork.length === 0) return done();
    if (o.dryRun) return op.finish('dry-run', '(dry run: nothing was changed)');
    const refused = await preflightAndConfirm(
      op,
      members,
      start,
      o,
      `${cpWork.length} control-plane node(s) one at a time, then ${workerWork.length} worker(s) ${start.settings.maxUnavailable} at a time`,
    );
    if (refused) return refused;
    if (!start.previous) await writeJournals(op, members, { id: start.rolloutId, operation: 'renew', settings: start.settings }, needsWork);
    const stop = (at: Member, why: string): Promise<RolloutOutcome> =>
      stopRollout(op, members, { what: 'Rollout', at: at.node.name, why, exceptNode: at.node.name });
    const reason = `${start.settings.work.kind === 'import' ? 'import' : 'renew'} (rollout ${start.rolloutId})`;
    const stopped = await stepControlPlanes(op, cpWork, members, { reason, scan: o.scan });
    if (stopped) return stop(stopped.at, stopped.why);
    const cps = members.filter((m) => m.node.role === 'control-plane');
    if (cpWork.length > 0) await recordInKubeadmConfig(op, cps, start.settings, o.scan);
    if (workerWork.length > 0) {
      const stopped = await workerStep(op, cps, workerWork, start, o.scan);
      if (stopped) return stop(stopped.at, stopped.why);
    }
    await updateOperatorKubeconfig(op, cps, o.scan, o.updateKubeconfig);
    await clearJournals(members);
    return op.finish(
      'complete',
      `Rollout ${start.rolloutId} complete: ${cpWork.length} control-plane node(s) and ${workerWork.length} worker(s) renewed, every node healthy.`,
    );
  });
}

/** The nodes with nothing (left) to do are finished now; the returned function ends a rollout that has no work. */
function finishUnneeded(
  op: Operation,
  members: Member[],
  start: Start,
  needsWork: (m: Member) => boolean,
  o: RolloutOptions,
): () => Promise<RolloutOutcome> {
  for (const m of members.filter((x) => !needsWork(x))) {
    const renewedBefore = start.previous !== undefined && m.journal?.step === 'done' && m.journal.outcome !== 'unchanged';
    if (renewedBefore) op.entry(m.node.name).resumed = true;
    op.events.finished(m.node.name, renewedBefore ? 'renewed' : 'unchanged', renewedBefore ? 'done before the resume' : 'nothing to renew');
  }
  return async () => {
    if (start.previous) await clearJournals(members);
    // kpki san -i again after the certificates got the names (or after kubeadm-config was overwritten): record them
    if (!o.dryRun && !start.previous && sansOf(start.settings))
      await recordInKubeadmConfig(
        op,
        members.filter((m) => m.node.role === 'control-plane'),
        start.settings,
        o.scan,
      );
    const why = start.previous
      ? `Rollout ${start.rolloutId} had finished every node; its journals are removed.`
      : 'Nothing to renew on any node.';
    return op.finish('nothing-to-do', why);
  };
}

/** A rollout that was interrupted: continue it (--resume), never start another over it. */
function resumeOrStart(op: Operation, members: Member[], o: RolloutOptions): Start | RolloutOutcome {
  const previous = interruptedRollout(members);
  const work = previous?.settings.work;
  const decision = renewResumeDecision(previous && { ...previous, rotation: work?.kind === 'ca-phase' ? work : undefined }, {
    resume: o.resume,
    nodes: members.map((m) => m.node.name),
    journalsOn: members.filter((m) => m.journal).map((m) => m.node.name),
  });
  if (decision.kind === 'refused') return op.refuse('blocked', decision.message);
  if (decision.kind === 'nothing-to-resume') return op.finish('nothing-to-do', decision.message);
  const rolloutId = previous?.rollout ?? newRolloutId();
  op.report.rollout = rolloutId;
  op.report.resumed = Boolean(previous);
  if (!previous) return { settings: o.settings, rolloutId };
  const allDone = members.every((m) => !m.journal || m.journal.step === 'done');
  // journals are written on every node before the first change and removed only at the very end
  for (const m of members)
    m.journal ??= {
      ...previous,
      node: m.node.name,
      step: allDone ? 'done' : 'pending',
      backup: undefined,
      renewed: undefined,
      changes: undefined,
      inService: undefined,
    };
  members.sort((a, b) => previous.nodes.indexOf(a.node.name) - previous.nodes.indexOf(b.node.name));
  op.events.log(
    `Resuming rollout ${rolloutId} (started ${previous.startedAt} by ${previous.by}) with its settings: ${members.map((m) => `${m.node.name} ${m.journal!.step}`).join(', ')}`,
  );
  return { previous, settings: previous.settings, rolloutId };
}

/** Journals left by an interrupted rollout: one rollout, its node order; refuses a mix. */
function interruptedRollout(members: Member[]): RolloutJournal | undefined {
  const journals = members.map((m) => m.journal).filter((j): j is RolloutJournal => j !== undefined);
  if (journals.length === 0) return undefined;
  const ids = new Set(journals.map((j) => j.rollout));
  if (ids.size > 1)
    throw new Error(`the nodes hold journals of different rollouts (${[...ids].join(', ')}): finish or remove them one at a time`);
  return journals[0];
}

/**
 * Plans: what each node still needs (nodes a resumed rollout had got past keep their journal's step). For import -i,
 * every node's signed certificates are checked here, before any node changes; what is wrong is returned, per node.
 */
async function planMembers(op: Operation, members: Member[], settings: RolloutSettings): Promise<RolloutOutcome | undefined> {
  const now = new Date();
  const refusals: string[] = [];
  for (const m of members.filter((x) => (x.journal?.step ?? 'pending') === 'pending')) {
    const where = { node: m.node.name, address: m.node.address, role: m.node.role };
    if (settings.work.kind === 'import') {
      try {
        m.plan = (await importPlanFor(m.host, m.scan, settings.work.from, m.node.name, now)).plan;
        m.workerClientDue = false;
        op.events.planned({ ...where, plan: m.plan });
      } catch (err) {
        refusals.push(`${m.node.name}: ${describeError(err)}`);
      }
      continue;
    }
    if (m.node.role === 'control-plane') {
      m.plan = planRenewal(m.scan, { ...planOptionsOf(settings), now });
      op.events.planned({ ...where, plan: m.plan });
      continue;
    }
    const status = await kubeletStatus(m.host, m.scan);
    const due = dueOnWorker(m.scan, status, settings, now);
    m.workerDue = due.clientDue || due.serving !== undefined;
    m.workerClientDue = due.clientDue;
    const servingDue = due.serving ? { notAfter: due.serving.items[0].oldNotAfter } : undefined;
    op.events.planned({ ...where, kubelet: { client: status.client, clientDue: due.clientDue, servingDue } });
  }
  if (refusals.length === 0) return undefined;
  return op.refuse('blocked', `Nothing was imported on any node: a signed certificate is wrong or missing:\n  ${refusals.join('\n  ')}`);
}

/** A new rollout needs a healthy control plane (or --force); either needs the operator's yes. */
async function preflightAndConfirm(
  op: Operation,
  members: Member[],
  start: Start,
  o: RolloutOptions,
  what: string,
): Promise<RolloutOutcome | undefined> {
  if (!start.previous) {
    const problems = await preflightProblems(members, o.scan);
    if (problems.length > 0 && !o.force)
      return op.refuse(
        'blocked',
        `Refusing to start: the control plane is not healthy now (use --force for a recovery):\n  ${problems.join('\n  ')}`,
      );
    if (problems.length > 0) op.events.log(`--force: starting although:\n  ${problems.join('\n  ')}`);
  }
  const refused = await o.confirm(`${start.previous ? 'Resume: renew' : 'Renew'} ${what}?`);
  return refused === undefined ? undefined : op.refuse(refused, 'Nothing was changed.');
}

/** Workers in batches of --max-unavailable; where it must stop, and why. */
async function workerStep(
  op: Operation,
  cps: Member[],
  workers: Member[],
  start: Start,
  scan: ScanOptions,
): Promise<{ at: Member; why: string } | undefined> {
  const ca = await clusterCa(cps, scan);
  // (a resumed worker may be past its plan: it needs the CA unless it was only its serving certificate)
  if (!ca && start.settings.work.kind !== 'import' && workers.some((m) => m.workerClientDue !== false))
    return { at: workers[0], why: 'no control-plane node has the CA key to sign kubelet certificates' };
  const api = await adminAccess(cps, scan);
  const bad = await renewKubeletsInBatches(op, {
    members: workers,
    batchSize: start.settings.maxUnavailable,
    journalOf: (m) => new NodeJournal(m.host, (m as Member).journal!),
    reason: `kubelet renew (rollout ${start.rolloutId})`,
    scan,
    ca,
    api: api?.access,
    succeeded: (_m, journal, outcome) => journal.set({ step: 'done', outcome }),
  });
  return bad ? { at: bad.member as Member, why: `worker ${bad.result.outcome}` } : undefined;
}

/** kpki san -i: a name to remove that a node still uses (kubeconfig servers, the endpoint) refuses the rollout. */
function namesStillInUse(op: Operation, members: Member[], start: Start, o: RolloutOptions): RolloutOutcome | undefined {
  const sans = sansOf(start.settings);
  if (!sans?.remove.length || start.previous) return undefined;
  const uses = members
    .filter((m) => m.node.role === 'control-plane')
    .flatMap((m) => namesInUse(m.scan, sans).map((u) => `${m.node.name}: ${u}`));
  if (uses.length === 0) return undefined;
  if (!o.forceNames)
    return op.refuse(
      'invalid',
      `A name to remove is still in use:\n  ${uses.join('\n  ')}`,
      'Point those at another name first, or give --force. Nothing was changed.',
    );
  op.events.log(`--force: removing names still in use:\n  ${uses.join('\n  ')}`);
  return undefined;
}

/** What changed (names, the key algorithm), recorded where kubeadm reads it for the whole cluster: kubeadm-config. */
async function recordInKubeadmConfig(op: Operation, cps: Member[], settings: RolloutSettings, scan: ScanOptions): Promise<void> {
  const edits = configEdits(planOptionsOf(settings));
  if (edits.length === 0) return;
  const admin = await adminAccess(cps, scan);
  if (!admin)
    return op.events.log(
      `note: the API server is not reachable from here: record ${edits.map((e) => e.field).join(', ')} in kube-system/kubeadm-config by hand`,
    );
  op.events.log(await editKubeadmConfig(admin.access, edits));
}

export type { NodeReport, RolloutReport };
