// The workers' part of a rotation of the cluster CA (kpki ca rotate -i --ca ca). A worker holds no CA key: it trusts
// the CA (ca.crt as the kubelet's clientCAFile, kubelet.conf's certificate-authority-data) and holds a client
// certificate it signed. After the control-plane nodes of each phase: trust, old + new; issue, the kubelet's client
// certificate re-issued by the new CA (its key read from a control-plane node into memory only); finish, the new CA
// alone. Each worker goes through the kubelet step of `renew -i` (node lock, backup, atomic writes, kubelet restart,
// node Ready since the restart, rollback), one at a time. Their files are their state: a re-run does what is left.
import type { KeyObject } from 'node:crypto';
import { kubeletNodeName, KubeletStatus, kubeletStatus, planKubeletRenewal } from '../node/kubelet.js';
import { planTrustingNode, type WritingPhase } from '../node/ca-rotation.js';
import { scanNode, type ScanOptions } from '../node/scan.js';
import { type Certificate, isSignedBy } from '../pki/certificate.js';
import type { ApiAccess } from '../api/client.js';
import { newRolloutId, type RolloutSettings } from './journal.js';
import { type ClusterMember, memoryJournal, renewKubeletsInBatches } from './operation.js';
import type { Operation } from './outcome.js';
import type { WorkerPlan } from './workers.js';
import type { PlannedWrites } from './journaled-write.js';
import type { NodeScan } from '../node/scan-result.js';
import type { SshHost } from '../hosts/ssh.js';

const same = (a: Certificate, b: Certificate) => a.der.equals(b.der);
const KUBELET_CLIENT_VALIDITY_MS = 365 * 86_400_000;

/** The new CA, and (issue) its key to sign the workers' kubelet client certificates. */
export interface WorkerTarget {
  cert: Certificate;
  signer?: { cert: Certificate; key: KeyObject };
}

/** What one worker writes in this phase of the rotation, or nothing. */
function workerPlan(phase: WritingPhase, target: WorkerTarget): WorkerPlan {
  return async (host: SshHost, scan: NodeScan, status: KubeletStatus): Promise<PlannedWrites | undefined> => {
    if (phase === 'trust')
      return planTrustingNode(
        host,
        scan,
        'ca',
        (held) => (held.some((c) => same(c, target.cert)) ? held : [...held, target.cert]),
        'ca (old + new)',
      );
    if (phase === 'finish') return planTrustingNode(host, scan, 'ca', () => [target.cert], 'ca (new only)');
    if (!status.client || isSignedBy(status.client, target.cert)) return undefined;
    if (!target.signer)
      throw new Error(
        `${host.name}: the new CA's key was not read from a control-plane node: cannot sign the kubelet's client certificate`,
      );
    const now = new Date();
    const renewal = await planKubeletRenewal(host, status, target.signer, {
      nodeName: kubeletNodeName(status),
      validityMs: KUBELET_CLIENT_VALIDITY_MS,
      now,
    });
    return {
      writes: renewal.writes,
      changes: [{ name: 'kubelet-client', oldNotAfter: status.client.notAfter.toISOString(), newNotAfter: renewal.notAfter.toISOString() }],
    };
  };
}

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
      if (status.client && !isSignedBy(status.client, target.cert))
        out.push({ member, writes: [`kubelet client certificate (${status.clientFile ?? status.kubeconfig})`] });
      continue;
    }
    const planned = await workerPlan(phase, target)(member.host, scan, status);
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
  const settings: RolloutSettings = { names: [], strategy: 'systemd', timeoutMs: o.timeoutMs, maxUnavailable: 1 };
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
    const status = await kubeletStatus(m.host, scan);
    if (status.client && !isSignedBy(status.client, newCa))
      out.push(`${m.node.name}: the kubelet's client certificate (${status.clientFile ?? status.kubeconfig}) is signed by the old ca`);
    const untrusted = await planTrustingNode(
      m.host,
      scan,
      'ca',
      (held) => (held.some((c) => same(c, newCa)) ? held : [...held, newCa]),
      'check',
    );
    for (const w of untrusted?.writes ?? []) out.push(`${m.node.name}: ${w.path} does not trust the new ca`);
  }
  return out;
}
