// kpki ca rotate, one phase over the whole cluster. Before anything changes: reach every node, read each control-plane
// node's rotation state from its files, refuse a phase the cluster is not ready for (naming each node's state), and
// plan every node. Then the control-plane nodes one at a time through the rollout's node step (journal, backup, atomic
// writes, restart of what reads a bundle only at start, node gate, cluster gate, roll back and stop at a node that does
// not come back). verify is read-only: every leaf on disk and every served chain must come from the new CA.
import { describeError, KpkiError } from '../errors.js';
import { nodeStageOf, type PhaseDecision, phaseDecision } from '../node/rotation/index.js';
import { journalDecision } from './rollout/journal-decision.js';
import { expiredCaMessage, type RotatableCa } from '../kubeadm/ca-trust.js';
import { type IssueGate, profileOf } from '../kubeadm/rotation-profiles.js';
import {
  describeStage,
  NewSigner,
  planPhase,
  Phase,
  RotationState,
  rotationState,
  stillOld,
  waitingCa,
  WritingPhase,
} from '../node/rotation/index.js';
import { describeSigner, madeSigner, signerId, unfitSigner, waitingSigner } from '../node/rotation/index.js';
import { TOKEN_OVERLAP_MS, tokenOverlapProblem } from '../node/rotation/index.js';
import { scanNode, ScanOptions } from '../node/scan/index.js';
import type { NodeScan } from '../node/scan/index.js';
import { type Certificate, certificateFromDer, isSignedBy, parseCertificates } from '../pki/certificate.js';
import type { CaPair } from '../pki/successor-ca.js';
import { readServices } from '../service/health.js';
import { servedCertificate, servedEndpoints } from '../service/served.js';
import type { StrategyName } from '../service/strategies.js';
import type { ConnectOptions } from './connect.js';
import { preflightProblems } from './gates.js';
import type { InventoryNode } from './inventory/model.js';
import { newRolloutId, readRolloutJournal, RolloutJournal, RolloutSettings } from './rollout/journal.js';
import { ClusterMember, clusterOperation, OperationOutcome } from './operation.js';
import { clearJournals, stopRollout, writeJournals } from './rollout/journals.js';
import type { Operation, RolloutEvents, Refusal } from './outcome.js';
import { stepControlPlanes } from './rollout/control-planes.js';
import { notRestartable } from '../service/rotate-node.js';
import { etcdTrustProblems } from './ca-trust-gate.js';
import { apiServerKeyTrust } from './sa-trust-gate.js';
import { keyFingerprint, serviceAccountKeyId } from '../pki/public-keys.js';
import { posix } from 'node:path';
import { apiAccessOf } from '../api/client.js';
import { legacyTokensSignedBy } from '../api/legacy-tokens.js';
import { DEFAULT_KUBECONFIG_DIR } from '../kubeadm/catalog.js';
import { planWorkers, rotateWorkers, workerLeftovers, type WorkerTarget } from './ca-rotate-workers.js';
import { adminAccess, clusterCa } from './cluster-access.js';
import { publishClusterInfoCa } from '../api/cluster-info.js';
import { caCertHash } from '../api/token.js';

export interface CaRotateOptions extends ConnectOptions {
  ca: RotatableCa;
  phase: Phase;
  /** --new-ca-cert/--new-ca-key: the operator's new CA (or, for sa, key) instead of one made in memory. */
  newCa?: NewSigner;
  /** --save-ca DIR: keeps a copy of a signer made here; returns what to tell. */
  saveCa?: (pair: NewSigner) => Promise<string>;
  /** sa: how long the new key must have signed on every node before finish drops the old one. */
  tokenOverlapMs?: number;
  strategy: StrategyName;
  timeoutMs: number;
  scan: ScanOptions;
  concurrency: number;
  dryRun: boolean;
  resume: boolean;
  confirm: (question: string) => Promise<Refusal | undefined>;
  events: RolloutEvents;
}

interface Member extends ClusterMember {
  scan: NodeScan;
  state: RotationState;
  journal?: RolloutJournal;
}

const same = (a?: string, b?: string) => Boolean(a && b && a === b);

export function rotateCaPhase(nodes: InventoryNode[], o: CaRotateOptions): Promise<OperationOutcome> {
  const spec = {
    kind: 'ca rotate' as const,
    needsEveryNode: `the ${o.phase} phase needs every node`,
    interrupted: (err: string) => [
      `CA rotation (${o.ca}, ${o.phase}) interrupted: ${err}`,
      'Every control-plane node keeps its journal and its files say how far it got: fix the cause, then run the same command with --resume.',
    ],
  };
  return clusterOperation(nodes, spec, o, async (op, reached) => {
    // the cluster CA is trusted by every kubelet too; the other CAs and the key only by control-plane components
    const workers = profileOf(o.ca).trustedByWorkers ? reached.filter((r) => r.node.role !== 'control-plane') : [];
    for (const w of reached.filter((r) => r.node.role !== 'control-plane' && !workers.includes(r)))
      op.events.finished(w.node.name, 'unchanged', `${o.ca} is trusted by control-plane components only`);
    const members: Member[] = [];
    const missing: string[] = [];
    for (const r of reached.filter((x) => x.node.role === 'control-plane')) {
      const scan = await scanNode(r.host, o.scan);
      try {
        members.push({ ...r, scan, state: await rotationState(r.host, scan, o.ca), journal: await readRolloutJournal(r.host) });
      } catch (err) {
        missing.push(describeError(err));
      }
    }
    // (external etcd: the control-plane nodes hold no etcd-ca; kpki rotates CAs it finds on the inventory's nodes)
    if (missing.length)
      return op.refuse('invalid', `Nothing was changed: ${o.ca} is not on every control-plane node:\n  ${missing.join('\n  ')}`);
    if (members.length === 0) return op.refuse('invalid', 'No control-plane node in the inventory: nothing holds the CA.');
    const journals = journalCheck(op, members, o);
    if (journals) return journals;
    if (o.phase === 'verify') return verify(op, members, workers, o);
    return writePhase(op, members, workers, o, reached);
  });
}

/** An interrupted rollout on the nodes: this phase's is resumed (--resume), a later phase's means this one is done. */
function journalCheck(op: Operation, members: Member[], o: CaRotateOptions): OperationOutcome | undefined {
  const journal = members.map((m) => m.journal).find(Boolean);
  const work = journal?.settings.work;
  const decision = journalDecision(journal && { ...journal, rotation: work?.kind === 'ca-phase' ? work : undefined }, o);
  if (decision.kind === 'refused') return op.refuse('blocked', decision.message);
  if (decision.kind === 'past') return op.finish('nothing-to-do', decision.message);
  if (decision.kind === 'start' || !journal) return undefined;
  op.report.rollout = decision.rollout;
  op.report.resumed = true;
  op.events.log(
    `Resuming the ${o.phase} phase of rollout ${journal.rollout} (started ${journal.startedAt} by ${journal.by}): ${members.map((m) => `${m.node.name} ${m.journal?.step ?? 'pending'}`).join(', ')}`,
  );
  return undefined;
}

/** Is the cluster ready for this phase? The phase's target CA, or why not (every node's state named). */
function readiness(members: Member[], phase: WritingPhase): PhaseDecision {
  return phaseDecision(
    members.map((m) => nodeStageOf(m.node.name, m.state)),
    phase,
  );
}

/** The new signer of the trust phase: the one already waiting on the nodes, the operator's, or a new one. */
async function nextSigner(members: Member[], o: CaRotateOptions, waiting?: string): Promise<{ pair: NewSigner; source: string }> {
  if (waiting) {
    if (o.newCa && signerId(o.newCa) !== waiting)
      throw new KpkiError(
        `another new ${o.ca} is already trusted on the nodes (an earlier trust phase): continue with it (leave out --new-ca-cert/--new-ca-key) or finish that rotation`,
      );
    for (const m of members.filter((x) => same(x.state.nextId, waiting))) {
      const pair = await waitingSigner(m.host, m.state).catch(() => undefined);
      if (pair) return { pair, source: `the one already on ${m.node.name} (an earlier trust phase)` };
    }
    throw new KpkiError(
      `the new ${o.ca} waits on the nodes but no node has its key (${members[0].state.files.nextKeyPath}): restore it from a backup (kpki backups)`,
    );
  }
  if (o.newCa) {
    const unfit = unfitSigner(members[0].state, o.newCa);
    if (unfit) throw new KpkiError(`the new ${profileOf(o.ca).noun} given cannot replace ${o.ca}: ${unfit}`);
    return { pair: o.newCa, source: 'given with --new-ca-key' };
  }
  const made = await madeSigner(members.map((m) => m.state));
  return { pair: made.signer, source: made.how };
}

async function writePhase(
  op: Operation,
  members: Member[],
  workers: ClusterMember[],
  o: CaRotateOptions,
  all: ClusterMember[],
): Promise<OperationOutcome> {
  const phase = o.phase as WritingPhase;
  const profile = profileOf(o.ca);
  const resumed = op.report.resumed;
  const ready = readiness(members, phase);
  if (ready.refusal) return op.refuse('blocked', `Refusing the ${phase} phase of ${o.ca}: ${ready.refusal}`);
  // (workers left behind by an interrupted phase still have work when the control-plane nodes are done)
  const pendingWorkers =
    ready.done && phase === 'finish' && workers.length ? await planWorkers(workers, o.scan, phase, { cert: newCaOf(members) }) : [];
  if (ready.done && !resumed && pendingWorkers.length === 0) {
    for (const m of members) op.events.finished(m.node.name, 'unchanged', describeStage(m.state));
    await clusterInfoAgain(op, members, o);
    return op.finish('nothing-to-do', `${o.ca} ${phase}: nothing to do (${ready.done}).`);
  }
  if (!resumed) {
    const refused = await phaseRefusal(op, members, workers, o);
    if (refused) return refused;
  }
  const next = phase === 'trust' ? await nextSigner(members, o, ready.target) : undefined;
  const { work, refusals, partial: planned } = await planNodes(op, members, phase, next?.pair);
  if (refusals.length)
    return op.refuse('blocked', `Nothing was changed: a node cannot take the ${phase} phase:\n  ${refusals.join('\n  ')}`);
  // A first step (the cluster CA's signer to its own file): the new CA is not written in it, so it is neither told
  // nor saved; a resumed trust phase of the cluster CA may have left nodes at that step, so it is planned again
  // afterwards too (the other CAs have no such step: their trust phase is one write per node)
  const partial =
    planned.length > 0 || (resumed && phase === 'trust' && profile.signerFirstStep && members.some((m) => m.state.stage === 'single'));
  if (partial) op.events.log(`First step of the ${phase} phase: ${planned.join('; ') || 'as the interrupted rollout planned it'}`);
  else if (next) op.events.log(`${describeSigner(o.ca, next.pair)} (${next.source})`);
  for (const m of members.filter((x) => !work.includes(x))) op.events.finished(m.node.name, 'unchanged', describeStage(m.state));
  // the cluster CA: the workers follow, then cluster-info and the join hashes (also in a cluster without workers)
  const target =
    (profile.trustedByWorkers || profile.inClusterInfo) && !partial ? { cert: next?.pair.cert ?? newCaOf(members) } : undefined;
  const workerWork = target && workers.length ? await planWorkers(workers, o.scan, phase, target) : [];
  for (const w of workerWork) op.events.log(`${w.member.node.name} (worker): ${w.writes.join(', ')}; restart kubelet`);
  for (const w of workers.filter((x) => !workerWork.some((ww) => ww.member === x)))
    op.events.finished(w.node.name, 'unchanged', `its kubelet is done with the ${phase} phase`);
  if (work.length === 0 && workerWork.length === 0) {
    await clearJournals(members);
    await clusterInfoAgain(op, members, o);
    return op.finish('nothing-to-do', `${o.ca} ${phase}: every node is done with this phase.`);
  }
  if (o.dryRun)
    return op.finish(
      'dry-run',
      partial
        ? `(dry run: nothing was changed; that is the ${phase} phase's first step: the rest is planned once it has run)`
        : '(dry run: nothing was changed)',
    );
  if (!resumed) {
    const problems = await preflightProblems(all, o.scan);
    if (problems.length)
      return op.refuse('blocked', `Refusing to start: the control plane is not healthy now:\n  ${problems.join('\n  ')}`);
  }
  const onWorkers = workerWork.length ? `, then ${workerWork.length} worker(s)` : '';
  const answer = await o.confirm(
    `${resumed ? 'Resume: ' : ''}${phase} phase of ${o.ca} on ${work.length} control-plane node(s)${onWorkers}, one at a time?`,
  );
  if (answer !== undefined) return op.refuse(answer, 'Nothing was changed.');
  if (next && !partial && o.saveCa && next.source.startsWith('made')) op.events.log(await o.saveCa(next.pair));
  const workerStep = target && { members: workerWork.map((w) => w.member), target };
  return runNodes(op, members, work, o, all, next?.pair, workerStep, partial);
}

/** The checks before a phase writes anything (not when resuming it): a refusal, or undefined to go on. */
async function phaseRefusal(
  op: Operation,
  members: Member[],
  workers: ClusterMember[],
  o: CaRotateOptions,
): Promise<OperationOutcome | undefined> {
  const phase = o.phase as WritingPhase;
  const expired = members.find(
    (m) => m.state.kind === 'ca' && m.state.stage === 'single' && !m.state.next && m.state.certs[0].notAfter.getTime() <= Date.now(),
  );
  if (phase === 'trust' && expired?.state.kind === 'ca')
    return op.refuse(
      'invalid',
      `Nothing was changed: ${expiredCaMessage(o.ca, expired.state.files.certPath, expired.state.certs[0].notAfter)}`,
    );
  if (phase === 'finish') {
    const left = [...(await leftovers(members, o)), ...(workers.length ? await workerLeftovers(workers, o.scan, newCaOf(members)) : [])];
    if (left.length)
      return op.refuse(
        'blocked',
        `Refusing to drop the old ${o.ca}: something still uses it:\n  ${left.join('\n  ')}`,
        'Run the issue phase again (--phase issue), then finish.',
      );
  }
  if (phase === 'finish' && profileOf(o.ca).finishWaitsForTokens) {
    const notice = await legacyTokenNotice(members, o);
    if (notice) op.events.log(notice);
    const waits: string[] = [];
    for (const m of members) {
      const wait = m.state.kind === 'key' ? await tokenOverlapProblem(m.host, m.state, o.tokenOverlapMs ?? TOKEN_OVERLAP_MS) : undefined;
      if (wait) waits.push(wait);
    }
    if (waits.length)
      return op.refuse(
        'blocked',
        `Refusing to drop the old service-account key yet:\n  ${waits.join('\n  ')}`,
        'Nothing was changed. Pods whose token was signed by the old key would get 401 from every API server until the kubelet refreshes it.',
      );
  }
  if (phase === 'issue')
    for (const gate of profileOf(o.ca).issueGates) {
      const refused = await ISSUE_GATES[gate](op, members, workers, o);
      if (refused) return refused;
    }
  return undefined;
}

/** The checks before a new signer signs, by the profile's names for them: a refusal, or undefined to go on. */
const ISSUE_GATES: Record<
  IssueGate,
  (op: Operation, members: Member[], workers: ClusterMember[], o: CaRotateOptions) => Promise<OperationOutcome | undefined>
> = {
  'kubelets-trust': kubeletsTrustGate,
  'etcd-members-trust': (op, members, _workers, o) => etcdTrustGate(op, members, o),
  'api-servers-verify': (op, members, _workers, o) => keyTrustGate(op, members, o),
};

/** A kubelet that does not trust the new CA would lose its API servers as soon as they serve new-CA certificates. */
async function kubeletsTrustGate(
  op: Operation,
  members: Member[],
  workers: ClusterMember[],
  o: CaRotateOptions,
): Promise<OperationOutcome | undefined> {
  if (workers.length === 0) return undefined;
  const untrusting = await planWorkers(workers, o.scan, 'trust', { cert: newCaOf(members) });
  if (untrusting.length === 0) return undefined;
  return op.refuse(
    'blocked',
    `Refusing the issue phase of ${o.ca}: ${untrusting.map((w) => w.member.node.name).join(', ')} do(es) not trust the new CA yet (${untrusting.flatMap((w) => w.writes).join(', ')})`,
    'Nothing was changed. Run the trust phase again (--phase trust): it continues on the workers.',
  );
}

/** The CA a rotation of `ca` moves to: the one waiting beside the bundle, or the one that signs already. */
function newCaOf(members: Member[]): Certificate {
  const state = members[0].state;
  if (state.kind !== 'ca') throw new Error('not a CA rotation');
  return state.next ?? state.certs[0];
}

/** The control-plane nodes with work, one at a time (journals first); stops at a node that does not come back. */
async function runNodes(
  op: Operation,
  members: Member[],
  work: Member[],
  o: CaRotateOptions,
  all: ClusterMember[],
  nextPair?: NewSigner,
  workerStep?: { members: ClusterMember[]; target: WorkerTarget },
  partial = false,
): Promise<OperationOutcome> {
  const phase = o.phase as WritingPhase;
  const settings: RolloutSettings = {
    names: [],
    strategy: o.strategy,
    timeoutMs: o.timeoutMs,
    maxUnavailable: 1,
    work: { kind: 'ca-phase', ca: o.ca, phase },
  };
  const rolloutId = op.report.rollout ?? newRolloutId();
  op.report.rollout = rolloutId;
  if (!op.report.resumed) await writeJournals(op, members, { id: rolloutId, operation: 'ca rotate', settings }, (m) => work.includes(m));
  const reason = `ca rotate ${o.ca} ${phase} (rollout ${rolloutId})`;
  const stopped = await stepControlPlanes(op, work, all, { reason, scan: o.scan, nextCa: nextPair });
  if (stopped)
    return stopRollout(op, members, {
      what: `${o.ca} ${phase}`,
      at: stopped.at.node.name,
      why: stopped.why,
      exceptNode: stopped.at.node.name,
      hint: 'The nodes before it keep the phase (the cluster works in between); fix the cause and run the phase again.',
    });
  const onWorkers = workerStep && (await workersAndApi(op, members, workerStep, o, reason));
  if (onWorkers?.stopped)
    return stopRollout(op, members, {
      what: `${o.ca} ${phase}`,
      at: `worker ${onWorkers.stopped}`,
      hint: 'The control-plane nodes and the workers before it keep the phase (the cluster works in between); fix the cause and run the phase again.',
    });
  await clearJournals(members);
  if (partial)
    return op.finish(
      'continues',
      `${o.ca} ${phase}: first step done on ${work.length} control-plane node(s), every node healthy; the ${phase} phase continues.`,
    );
  const workersDone = workerStep?.members.length ? ` and ${workerStep.members.length} worker(s)` : '';
  return op.finish(
    'complete',
    `${o.ca} ${phase} phase complete on ${work.length} control-plane node(s)${workersDone}, every node healthy. ${profileOf(o.ca).nextStep[phase]}`,
    ...(onWorkers?.notes ?? []),
  );
}

/**
 * The cluster CA after the control-plane nodes: the workers' kubelets (issue: signed by the new CA, its key read from
 * a control-plane node into memory), then cluster-info for kubeadm join (trust, finish) and the join hashes.
 */
async function workersAndApi(
  op: Operation,
  members: Member[],
  step: { members: ClusterMember[]; target: WorkerTarget },
  o: CaRotateOptions,
  reason: string,
): Promise<{ stopped?: string; notes: string[] }> {
  const phase = o.phase as WritingPhase;
  const admin = await adminAccess(members, o.scan);
  let target = step.target;
  if (phase === 'issue' && step.members.length) {
    const signer = await clusterCa(members, o.scan);
    if (!signer || !signer.cert.der.equals(target.cert.der))
      return { stopped: `${step.members[0].node.name}: the new CA and its key were not found on a control-plane node`, notes: [] };
    target = { ...target, signer };
  }
  if (step.members.length) {
    op.events.log(`\n== workers (${step.members.length}), one at a time`);
    const stopped = await rotateWorkers(op, step.members, {
      phase,
      target,
      scan: o.scan,
      timeoutMs: o.timeoutMs,
      api: admin?.access,
      reason,
    });
    if (stopped) return { stopped, notes: [] };
  }
  const notes: string[] = [];
  const caPem = await clusterCaPem(members);
  if (phase !== 'issue') notes.push(await republishedClusterInfo(admin, caPem));
  const trusted = parseCertificates(caPem);
  notes.push(
    `Join commands from now on: ${trusted.map((c) => `--discovery-token-ca-cert-hash ${caCertHash(c)}`).join(' ')}${phase === 'finish' ? '' : ' (kubeadm join accepts any one of them)'}`,
  );
  return { notes };
}

/**
 * A trust or finish phase of the cluster CA with nothing left to write on the nodes still publishes cluster-info: a
 * run that ended after the last node (killed, or the API down then) left it as it was.
 */
async function clusterInfoAgain(op: Operation, members: Member[], o: CaRotateOptions): Promise<void> {
  if (!profileOf(o.ca).inClusterInfo || o.dryRun || (o.phase !== 'trust' && o.phase !== 'finish')) return;
  op.events.log(await republishedClusterInfo(await adminAccess(members, o.scan), await clusterCaPem(members)));
}

/** The cluster CA file as the first control-plane node has it now (old + new between trust and finish). */
async function clusterCaPem(members: Member[]): Promise<string> {
  return (await members[0].host.readFile(members[0].state.files.certPath)).toString();
}

/** cluster-info for kubeadm join given that CA file, told as a line of the report. */
async function republishedClusterInfo(admin: Awaited<ReturnType<typeof adminAccess>>, caPem: string): Promise<string> {
  const published = admin ? await publishClusterInfoCa(admin.access, caPem) : 'not updated: no admin.conf on the control-plane nodes';
  return `kube-public/cluster-info (kubeadm join discovery): ${published}`;
}

/** Before the new etcd-ca signs: every running etcd member must accept it (it reads its trusted CAs only at start). */
async function etcdTrustGate(op: Operation, members: Member[], o: CaRotateOptions): Promise<OperationOutcome | undefined> {
  let signer: CaPair | undefined;
  for (const m of members) {
    const state = m.state;
    if (state.kind === 'ca' && state.stage === 'trusted') signer ??= await waitingCa(m.host, state).catch(() => undefined);
  }
  if (!signer) return undefined; // every node issued already, or no key: the plans below say so
  const problems = await etcdTrustProblems(members, signer, o.scan.kubeconfigDir);
  if (problems.length === 0) {
    op.events.log('Every running etcd member accepts a certificate of the new CA (a throwaway one, made in memory).');
    return undefined;
  }
  return op.refuse(
    'blocked',
    `Refusing the issue phase of etcd-ca: a running etcd member does not trust the new CA yet:\n  ${problems.join('\n  ')}`,
    'Nothing was changed. A member that presented a certificate of the new CA to it would be cut off.',
  );
}

/**
 * Legacy token Secrets the old service-account keys signed: nobody re-signs them, so they stop working at finish
 * (wanted when a leaked token is the reason for the rotation). Told, not refused; a line for the log.
 */
async function legacyTokenNotice(members: Member[], o: CaRotateOptions): Promise<string | undefined> {
  const state = members[0].state;
  if (state.kind !== 'key') return undefined;
  const old = state.keys.filter((k) => keyFingerprint(k) !== state.signerId);
  if (old.length === 0) return undefined;
  const path = posix.join(o.scan.kubeconfigDir ?? DEFAULT_KUBECONFIG_DIR, 'admin.conf');
  try {
    const found = await legacyTokensSignedBy(apiAccessOf((await members[0].host.readFile(path)).toString()), old);
    if (typeof found === 'string')
      return `Legacy token Secrets could not be listed (${found}): those the old key signed stop working at finish.`;
    if (found.length === 0) return 'No legacy token Secret is signed by the old key.';
    return `${found.length} legacy token Secret(s) signed by the old key stop working at finish (re-create them first unless revoking them is the point): ${found.join(', ')}`;
  } catch (err) {
    return `Legacy token Secrets could not be listed (${(err as Error).message.split('\n')[0]}): those the old key signed stop working at finish.`;
  }
}

/** Before the new service-account key signs: every running kube-apiserver must verify its tokens. */
async function keyTrustGate(op: Operation, members: Member[], o: CaRotateOptions): Promise<OperationOutcome | undefined> {
  const next = members.map((m) => (m.state.kind === 'key' ? m.state.next : undefined)).find(Boolean);
  if (!next) return undefined; // every node issued already: the plans below say so
  const trust = await apiServerKeyTrust(members, serviceAccountKeyId(next), 'the new key', o.scan.kubeconfigDir);
  for (const line of trust.unseen)
    op.events.log(
      `Cannot see which keys the API server verifies with on ${line}; the trust phase restarted it, a trust phase done by hand must have too.`,
    );
  if (trust.problems.length === 0) {
    if (trust.unseen.length < members.length)
      op.events.log('Every running kube-apiserver verifies tokens signed by the new key (its /openid/v1/jwks).');
    return undefined;
  }
  return op.refuse(
    'blocked',
    `Refusing the issue phase of sa: a running kube-apiserver does not verify the new key yet:\n  ${trust.problems.join('\n  ')}`,
    'Nothing was changed. Tokens signed by the new key would get 401 from that API server.',
  );
}

/** Every node planned before any changes (a node that cannot take the phase refuses the whole run); the nodes with work. */
async function planNodes(
  op: Operation,
  members: Member[],
  phase: WritingPhase,
  next?: NewSigner,
): Promise<{ work: Member[]; refusals: string[]; partial: string[] }> {
  const work: Member[] = [];
  const refusals: string[] = [];
  const partial: string[] = [];
  for (const m of members) {
    if (m.journal && m.journal.step !== 'pending') {
      if (m.journal.step !== 'done') work.push(m);
      continue;
    }
    try {
      const planned = await planPhase(m.host, m.scan, m.state, phase, next, { signerFirst: true });
      if (planned?.partial) partial.push(`${m.node.name}: ${planned.partial}`);
      // a reader kpki cannot restart (etcd as a systemd service: Kubespray, KubeKey) would keep the old trust
      const unmanaged = planned ? await notRestartable(m.host, planned.restart, m.scan.kubeconfigDir) : [];
      if (unmanaged.length)
        throw new KpkiError(
          `${m.node.name}: ${unmanaged.join(', ')} must restart to read the changed ${m.state.ca} file but runs neither as a static pod nor as etcd.service here: kpki cannot restart it one node at a time`,
        );
      const restart = planned?.restart.length ? `; restart ${planned.restart.join(', ')}` : '; no restart';
      op.events.log(
        `${m.node.name} (${describeStage(m.state)}): ${planned ? `${planned.writes.map((w) => w.path).join(', ')}${restart}` : 'nothing to do'}`,
      );
      if (planned) work.push(m);
    } catch (err) {
      refusals.push(describeError(err));
    }
  }
  return { work, refusals, partial };
}

/** What still uses an old CA: leaves on disk, a node that does not sign with the new one, chains etcd serves. */
async function leftovers(members: Member[], o: CaRotateOptions): Promise<string[]> {
  const newest = members[0].state;
  const out: string[] = [];
  for (const m of members) {
    if (!same(m.state.signerId, newest.signerId))
      out.push(
        `${m.node.name}: ${m.state.kind === 'key' ? m.state.files.keyPath : m.state.files.certPath} signs with another ${m.state.kind === 'key' ? 'key' : 'CA'} than ${members[0].node.name}`,
      );
    out.push(...stillOld(m.state).map((line) => `${m.node.name}: ${line}`));
    if (m.state.kind === 'key') {
      const trust = await apiServerKeyTrust(
        [m],
        serviceAccountKeyId(m.state.signer),
        `the key ${m.state.files.keyPath} holds`,
        o.scan.kubeconfigDir,
      );
      // (an API server that cannot be asked is not counted: an old cluster without /openid/v1/jwks)
      out.push(...trust.problems);
      continue;
    }
    const servedBy = profileOf(o.ca).servedBy;
    if (!servedBy || newest.kind !== 'ca') continue;
    const services = await readServices(m.host, o.scan.kubeconfigDir);
    for (const e of await servedEndpoints(m.host, services, servedBy)) {
      try {
        const client = e.client && { cert: await m.host.readFile(e.client.cert), key: await m.host.readFile(e.client.key) };
        const served = certificateFromDer(await servedCertificate(e.host, e.port, client, 3000, services.dial));
        if (!isSignedBy(served, newest.certs[0]))
          out.push(`${m.node.name}: ${e.what} ${e.host}:${e.port} serves a certificate the new ${o.ca} did not sign`);
      } catch (err) {
        out.push(`${m.node.name}: ${e.what} ${e.host}:${e.port}: ${(err as Error).message}`);
      }
    }
  }
  return out;
}

/** verify: read-only; exit 0 when nothing kpki can see still uses the old CA. */
async function verify(op: Operation, members: Member[], workers: ClusterMember[], o: CaRotateOptions): Promise<OperationOutcome> {
  if (members.every((m) => m.state.stage === 'single' && !m.state.next)) {
    for (const m of [...members, ...workers]) op.events.finished(m.node.name, 'unchanged', 'one CA, no rotation in progress');
    return op.finish('nothing-to-do', `No rotation of ${o.ca} in progress: every node trusts one CA.`);
  }
  const issued = members.every((m) => m.state.stage !== 'trusted');
  const left = [
    ...(await leftovers(members, o)),
    ...(issued && workers.length ? await workerLeftovers(workers, o.scan, newCaOf(members)) : []),
  ];
  for (const m of [...members, ...workers]) {
    const mine = left.filter((l) => l.startsWith(`${m.node.name}: `));
    op.events.finished(
      m.node.name,
      mine.length ? 'failed' : 'unchanged',
      mine.length ? `${mine.length} still old` : `everything from the new ${o.ca}`,
    );
  }
  if (left.length)
    return op.finish('stopped', `Still from the old ${o.ca}:\n  ${left.join('\n  ')}`, 'Run --phase issue again, then verify.');
  const profile = profileOf(o.ca);
  if (profile.kind === 'key') {
    const notice = await legacyTokenNotice(members, o);
    if (notice) op.events.log(notice);
    return op.finish(
      'complete',
      'sa verified: every control-plane node signs with the same new key and every API server that could be asked verifies it. Next: --phase finish (after --token-overlap).',
    );
  }
  const workersToo = profile.trustedByWorkers && workers.length ? `, every worker's kubelet client certificate is from it` : '';
  const served = profile.servedText ? `, ${profile.servedText}${workersToo}` : '';
  return op.finish(
    'complete',
    `${o.ca} verified: every leaf on every control-plane node is signed by the new CA${served}. Next: --phase finish.`,
  );
}
