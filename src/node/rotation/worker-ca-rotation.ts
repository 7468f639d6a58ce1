// A worker's part of a rotation of the cluster CA, from its files. A worker holds no CA key: it trusts the CA (ca.crt as
// the kubelet's clientCAFile, kubelet.conf's certificate-authority-data) and holds a kubelet client certificate it
// signed. trust: every place holds old + new; issue: the kubelet client certificate re-issued by the new CA (its key
// given, never written here), the kubelet's way; finish: every place holds the new CA alone. Nothing to do when the
// files already say so, so a re-run does what is left. The kubelet reads all of it only at start: restart it after.
import type { KeyObject } from 'node:crypto';
import type { Host } from '../../hosts/host.js';
import { type Certificate, isSignedBy } from '../../pki/certificate.js';
import { KpkiError } from '../../errors.js';
import { planTrustingNode, samePair, type WritingPhase } from './ca-rotation.js';
import { kubeletNodeName, type KubeletStatus, planKubeletRenewal } from '../kubelet/index.js';
import type { FileWrite } from '../renew/index.js';
import type { NodeScan } from '../scan/index.js';

/** The new CA, and (issue) its key to sign the kubelet's client certificate. */
export interface WorkerTarget {
  cert: Certificate;
  signer?: { cert: Certificate; key: KeyObject };
}

export interface WorkerWrites {
  writes: FileWrite[];
  changes: { name: string; oldNotAfter?: string; newNotAfter?: string }[];
}

/** The kubelet client certificate kpki issues lives as long as the controller-manager's default signing duration. */
const KUBELET_CLIENT_VALIDITY_MS = 365 * 86_400_000;

/** The kubelet's client certificate was not signed by the new CA (issue must re-issue it). */
export const kubeletClientIsOld = (status: KubeletStatus, newCa: Certificate) =>
  Boolean(status.client && !isSignedBy(status.client, newCa));

export async function planWorkerPhase(
  host: Host,
  scan: NodeScan,
  status: KubeletStatus,
  phase: WritingPhase,
  target: WorkerTarget,
): Promise<WorkerWrites | undefined> {
  if (phase === 'trust') {
    const add = (held: Certificate[]) => (held.some((c) => samePair(c, target.cert)) ? held : [...held, target.cert]);
    return planTrustingNode(host, scan, 'ca', add, 'ca (old + new)');
  }
  if (phase === 'finish') return planTrustingNode(host, scan, 'ca', () => [target.cert], 'ca (new only)');
  if (!status.client || !kubeletClientIsOld(status, target.cert)) return undefined;
  if (!target.signer)
    throw new KpkiError(`${scan.node}: the kubelet's client certificate must be signed by the new CA, and its key was not given`);
  const renewal = await planKubeletRenewal(host, status, target.signer, {
    nodeName: kubeletNodeName(status),
    validityMs: KUBELET_CLIENT_VALIDITY_MS,
    now: new Date(),
  });
  return {
    writes: renewal.writes,
    changes: [{ name: 'kubelet-client', oldNotAfter: status.client.notAfter.toISOString(), newNotAfter: renewal.notAfter.toISOString() }],
  };
}

/** What on a worker still uses the old CA: a kubelet client certificate it signed, a place without the new CA. */
export async function workerStillOld(host: Host, scan: NodeScan, status: KubeletStatus, newCa: Certificate): Promise<string[]> {
  const out: string[] = [];
  if (kubeletClientIsOld(status, newCa))
    out.push(`the kubelet's client certificate (${status.clientFile ?? status.kubeconfig}) is signed by the old ca`);
  const untrusted = await planWorkerPhase(host, scan, status, 'trust', { cert: newCa });
  for (const w of untrusted?.writes ?? []) out.push(`${w.path} does not trust the new ca`);
  return out;
}
