// What a scan finds on one node: plain data consumed by planning, rendering and checks.
import type { KeyObject } from 'node:crypto';
import type { Certificate } from '../pki/certificate.js';
import type { ClusterSettings } from '../kubeadm/cluster-config.js';
import type { KubeconfigIdentity } from '../kubeadm/kubeconfig.js';
import type { StaticPod } from '../kubeadm/manifests.js';

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
  | 'not-yet-valid';

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
}

export interface CertEntry {
  name: string;
  kind: 'leaf' | 'kubeconfig';
  slot: Slot;
  /** The file users look at: the .crt, the kubeconfig, the kubelet PEM. */
  path: string;
  cert?: Certificate;
  key?: KeyObject;
  kubeconfig?: KubeconfigIdentity;
  /** Catalog CA name (what kubeadm expects to have signed it). */
  expectedCa?: string;
  /** Name of the CA whose key verifies the signature. */
  signer?: string;
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

export interface NodeInventory {
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
}

export function isExternallyManaged(inventory: NodeInventory, entry: CertEntry): boolean {
  if (entry.signer === 'self-signed') return !entry.key;
  const ca = inventory.cas.find((c) => c.name === (entry.signer ?? entry.expectedCa));
  return !ca || !ca.keyPresent;
}
