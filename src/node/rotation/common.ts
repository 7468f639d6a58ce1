// What a CA rotation and a service-account key rotation share on one node: the stages a node moves through, what a
// phase writes, and who else holds the trusted file (and reads it only at start).
import type { KeyObject } from 'node:crypto';
import type { Host } from '../../hosts/host.js';
import type { RotatableCa } from '../../kubeadm/ca-trust.js';
import type { UsingComponent as Component } from '../../kubeadm/catalog.js';
import type { Certificate } from '../../pki/certificate.js';
import { blastRadius, TrustPlace } from './ca-blast.js';
import type { FileWrite } from '../renew/index.js';
import type { NodeScan } from '../scan/index.js';

/** Where a node is: `single` (one CA: before a rotation or after it), `trusted` (old signs, new trusted too), `issued`. */
export type Stage = 'single' | 'trusted' | 'issued';

export interface RotationFiles {
  certPath: string;
  keyPath: string;
  nextCertPath: string;
  nextKeyPath: string;
}

/** What the cluster compares between nodes, for a CA and the service-account key alike. */
export interface StageView {
  /** The node, as its scan names it. */
  node: string;
  ca: RotatableCa;
  stage: Stage;
  /** Identity (SHA-256 of the DER) of what signs now, and of the new one waiting beside it. */
  signerId: string;
  nextId?: string;
}

/** A new signer: a CA (certificate and key), or the service-account key pair (a key only). */
export interface NewSigner {
  key: KeyObject;
  cert?: Certificate;
}

export interface PhaseWrites {
  writes: FileWrite[];
  /** For the report and the journal: what changed. */
  changes: { name: string }[];
  /** Components to restart although none of their certificates changed: they read a changed bundle only at start. */
  restart: Component[];
  /** Only the first step of the phase: it continues, planned again, once this step is in service (what it waits for). */
  partial?: string;
}

/** How a phase is planned: with signerFirst (the phase's restarts are done between steps), a signer moves first. */
export interface PhaseOptions {
  signerFirst?: boolean;
}

export const withSuffix = (path: string, suffix: string) => path.replace(/(\.[A-Za-z]+)?$/, (ext) => `${suffix}${ext}`);

/**
 * Who else holds the CA: files other than the CA file (etcd.env targets of Kubespray and KubeKey, other flag targets,
 * kubeconfigs with the CA embedded), the components that read any of them only at start (restarted after they
 * change), and the files a component signs with (one certificate, never a bundle: the controller-manager's
 * --cluster-signing-cert-file).
 */
export async function trustOf(
  host: Host,
  scan: NodeScan,
  state: { ca: RotatableCa; files: { certPath: string } },
): Promise<{ others: TrustPlace[]; readers: Component[]; signers: Component[]; signing: TrustPlace[] }> {
  const { trusts } = await blastRadius(host, scan, state.ca);
  const seen = new Set([state.files.certPath]);
  const others = trusts.filter((t) => !t.signs && !seen.has(t.path) && seen.add(t.path));
  const readers = trusts.filter((t) => t.readAt === 'start' && !t.signs && t.component).map((t) => t.component as Component);
  const signing = trusts.filter((t) => t.signs && t.component);
  const signers = signing.map((t) => t.component as Component);
  return { others, readers: [...new Set(readers)], signers: [...new Set(signers)], signing };
}
