// What a scan finds on one node: plain data consumed by planning, rendering and checks.
import type { KeyObject } from 'node:crypto';
import type { Certificate } from '../../pki/certificate.js';
import type { ClusterSettings } from '../../kubeadm/cluster-config.js';
import type { KubeconfigIdentity } from '../../kubeadm/kubeconfig.js';
import type { StaticPod } from '../../kubeadm/manifests.js';
import type { FileFinding } from './permissions.js';
import { slotFiles } from './slot-files.js';

/** Where a certificate lives and how it is written back (kubeadm's "read-writers"). */
export type Slot =
  | { kind: 'pair'; certPath: string; keyPath: string }
  | { kind: 'kubeconfig'; path: string }
  | { kind: 'combined'; linkPath: string; filePath: string };

export type ProblemCode =
  | 'missing'
  | 'unreadable'
  | 'key-missing'
  | 'key-mismatch'
  | 'not-signed-by-ca'
  | 'wrong-ca'
  | 'ca-data-stale'
  | 'not-yet-valid'
  | 'loose-mode'
  | 'wrong-owner'
  | 'not-utf8'
  | 'chain-invalid'
  | 'outlives-ca';

export interface Problem {
  code: ProblemCode;
  message: string;
}

export interface CaEntry {
  name: string;
  certPath: string;
  keyPath: string;
  cert?: Certificate;
  /** The CA's private key, loaded only when present; needed for signing. */
  key?: KeyObject;
  keyPresent: boolean;
  missing: boolean;
  problems: Problem[];
  /** Found only inside a kubeconfig (no CA file on this node). */
  embeddedOnly: boolean;
  /** More certificates after the first in the CA file: it trusts a bundle (a rotation in progress, `kpki ca rotate`). */
  alsoTrusted?: Certificate[];
}

export interface CertEntry {
  name: string;
  kind: 'leaf' | 'kubeconfig';
  slot: Slot;
  /** The file users look at: the .crt, the kubeconfig, the kubelet PEM. */
  path: string;
  cert?: Certificate;
  /** The private key, when the scan loaded keys (check -o and the exporter only look whether it is there). */
  key?: KeyObject;
  /** The private key exists (whether or not it was loaded). */
  keyPresent?: boolean;
  /** The key's bytes when the scan only matched it to the certificate and did not parse it (check). */
  keyPem?: Buffer;
  kubeconfig?: KubeconfigIdentity;
  /** Catalog CA name (what kubeadm expects to have signed it). */
  expectedCa?: string;
  /** Name of the CA whose key verifies the signature: a CA of the node, OWN_CA or SELF_SIGNED. */
  signer?: string;
  /** Certificates written after the leaf in the same file (a chain, or the kubelet's own throwaway CA). */
  chain?: Certificate[];
  /** With signer OWN_CA: the CA from the same file that signed the leaf. */
  ownCa?: Certificate;
  missing: boolean;
  problems: Problem[];
  /** Listed by `kubeadm certs check-expiration`. */
  kubeadm: boolean;
  /** How kpki can renew it; undefined means it cannot, and `notRenewable` says why. */
  renewable: boolean;
  notRenewable?: string;
  /** Where this entry was learned from, e.g. "manifest kube-apiserver --tls-cert-file". */
  source: string;
}

export interface NodeScan {
  node: string;
  certDir: string;
  kubeconfigDir: string;
  settings?: ClusterSettings;
  settingsPath?: string;
  role: 'control-plane' | 'worker' | 'unknown';
  localEtcd: boolean;
  manifests: StaticPod[];
  cas: CaEntry[];
  entries: CertEntry[];
  /** File modes and owners that the CIS benchmark would flag (all of them, also those of entries). */
  files?: FileFinding[];
  /** With serverTLSBootstrap, on a live node: the kubelet-serving CSRs waiting for approval, as the API says. */
  servingCsrs?: ServingCsrStatus;
  /** Certificate requests for an external CA (kpki csr) whose signed certificates were not imported yet. */
  pendingRequests?: { name: string; keyPath: string }[];
  /** How many public keys sa.pub holds when more than one: a service-account key rotation in progress. */
  serviceAccountKeys?: number;
  /** A run was killed half-way and left its journal: the next renew, restore or recover rolls it back. */
  interrupted?: { operation: string; startedAt: string; backupId: string; backupPresent: boolean };
}

export interface PendingCsr {
  name: string;
  username: string;
  createdAt?: string;
}

export interface ServingCsrStatus {
  /** The API answered. */
  checked: boolean;
  /** The kubeconfig whose credentials asked. */
  via?: string;
  pending: PendingCsr[];
  error?: string;
}

/**
 * A leaf signed by a CA that travels in the same file, leaf first (client-go's GenerateSelfSignedCertKey, which the
 * kubelet uses for kubelet.crt: a throwaway CA whose key is discarded). Renewal makes a new CA and leaf the same way.
 */
export const OWN_CA = 'own-ca';
/** A certificate that signed itself (an old kubelet's kubelet.crt): renewed self-signed with a new key. */
export const SELF_SIGNED = 'self-signed';

/** The private key file of an entry, where it lives apart from the certificate. */
export function keyPathOf(entry: CertEntry): string | undefined {
  return slotFiles(entry.slot).keyPath(entry.slot);
}

export function isExternallyManaged(scan: NodeScan, entry: CertEntry): boolean {
  if (entry.signer === SELF_SIGNED || entry.signer === OWN_CA) return !(entry.key || entry.keyPresent);
  const ca = scan.cas.find((c) => c.name === (entry.signer ?? entry.expectedCa));
  return !ca || !ca.keyPresent;
}

/** Where a certificate's new key waits for its signed certificate from an external CA (kpki csr, kpki import). */
export function pendingKeyPath(entry: CertEntry): string | undefined {
  return slotFiles(entry.slot).pendingKeyPath(entry.slot);
}
