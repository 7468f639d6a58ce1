// The workers' part of a rotation of the cluster CA (kpki ca rotate -i --ca ca). A worker holds no CA key: it trusts
// the CA (ca.crt as the kubelet's clientCAFile, kubelet.conf's certificate-authority-data) and holds a client
// certificate it signed. After the control-plane nodes of each phase: trust, old + new; issue, the kubelet's client
// certificate re-issued by the new CA (its key read from a control-plane node into memory only); finish, the new CA
// alone. Each worker goes through the kubelet step of `renew -i` (node lock, backup, atomic writes, kubelet restart,
// node Ready since the restart, rollback), one at a time. Their files are their state: a re-run does what is left.
import { kubeletStatus } from '../node/kubelet/index.js';
import type { WritingPhase } from '../node/rotation/index.js';
import { scanNode, type ScanOptions } from '../node/scan/index.js';
import { kubeletClientIsOld, planWorkerPhase, type WorkerTarget, workerStillOld } from '../node/rotation/index.js';
import type { Certificate } from '../pki/certificate.js';
import type { ApiAccess } from '../api/client.js';
import { newRolloutId, type RolloutSettings } from './rollout/journal.js';
import { type ClusterMember, memoryJournal, renewKubeletsInBatches } from './operation.js';
import type { Operation } from './outcome.js';
import type { WorkerPlan } from './workers.js';

export type { WorkerTarget };

/** What one worker writes in this phase of the rotation, or nothing. */
const workerPlan =
  (phase: WritingPhase, target: WorkerTarget): WorkerPlan =>
  (host, scan, status) =>
    planWorkerPhase(host, scan, status, phase, target);

/** The workers with something to write in this phase, each with what (for the plan that is shown first). */
export async function planWorkers(
  workers: ClusterMember[],
  scanOptions: ScanOptions,
  phase: WritingPhase,
  target: WorkerTarget,
): Promise<{ member: ClusterMember; writes: string[] }[]> {
  const out: { member: ClusterMember; writes: string[] }[] = [];
  for (const member of workers) {
    const scan = await scanNode(member.host, scanOptions);
    const status = await kubeletStatus(member.host, scan);
    if (phase === 'issue') {
      // (planned without the key: the new CA signs only when the phase runs)
      if (kubeletClientIsOld(status, target.cert))
        out.push({ member, writes: [`kubelet client certificate (${status.clientFile ?? status.kubeconfig})`] });
      continue;
    }
    const planned = await planWorkerPhase(member.host, scan, status, phase, target);
    if (planned) out.push({ member, writes: planned.writes.map((w) => w.path) });
  }
  return out;
}

/** The workers through this phase, one at a time; the first that does not come back stops the rest (named). */
export async function rotateWorkers(
  op: Operation,
  workers: ClusterMember[],
  o: { phase: WritingPhase; target: WorkerTarget; scan: ScanOptions; timeoutMs: number; api?: ApiAccess; reason: string },
): Promise<string | undefined> {
  const settings: RolloutSettings = {
    names: [],
    strategy: 'systemd',
    timeoutMs: o.timeoutMs,
    maxUnavailable: 1,
    work: { kind: 'ca-phase', ca: 'ca', phase: o.phase },
  };
  op.report.rollout ??= newRolloutId();
  const bad = await renewKubeletsInBatches(op, {
    members: workers,
    batchSize: 1,
    journalOf: (m) => memoryJournal(m, op, 'ca rotate', settings),
    reason: o.reason,
    scan: o.scan,
    api: o.api,
    plan: workerPlan(o.phase, o.target),
  });
  if (!bad) return undefined;
  return `${bad.member.node.name}: ${'detail' in bad.result ? bad.result.detail : bad.result.outcome}`;
}

/** What on the workers still uses the old CA: a kubelet client certificate it signed, a place without the new CA. */
export async function workerLeftovers(workers: ClusterMember[], scanOptions: ScanOptions, newCa: Certificate): Promise<string[]> {
  const out: string[] = [];
  for (const m of workers) {
    const scan = await scanNode(m.host, scanOptions);
    out.push(...(await workerStillOld(m.host, scan, await kubeletStatus(m.host, scan), newCa)).map((l) => `${m.node.name}: ${l}`));
  }
  return out;
}
