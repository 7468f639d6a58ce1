// kubeadm's ClusterConfiguration (and v1alpha1 MasterConfiguration): the settings renewal needs.
import { isSeq, parseAllDocuments } from 'yaml';
import { parseDuration } from '../util/duration.js';

export interface ClusterSettings {
  certificatesDir?: string;
  /** v1beta4 certificateValidityPeriod, in ms. */
  certificateValidityMs?: number;
  encryptionAlgorithm?: string;
  externalEtcd: boolean;
  kubernetesVersion?: string;
  controlPlaneEndpoint?: string;
}

/** Reads the first ClusterConfiguration/MasterConfiguration in a (multi-document) YAML text; undefined if none. */
export function parseClusterSettings(text: string): ClusterSettings | undefined {
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) continue;
    const value: any = doc.toJS();
    if (!value || typeof value !== 'object') continue;
    if (value.kind !== 'ClusterConfiguration' && value.kind !== 'MasterConfiguration') continue;
    const validity = value.certificateValidityPeriod;
    return {
      certificatesDir: typeof value.certificatesDir === 'string' ? value.certificatesDir : undefined,
      certificateValidityMs: typeof validity === 'string' ? safeDuration(validity) : undefined,
      encryptionAlgorithm: typeof value.encryptionAlgorithm === 'string' ? value.encryptionAlgorithm : undefined,
      externalEtcd: Boolean(value.etcd?.external || value.etcd?.endpoints),
      kubernetesVersion: typeof value.kubernetesVersion === 'string' ? value.kubernetesVersion : undefined,
      controlPlaneEndpoint: typeof value.controlPlaneEndpoint === 'string' ? value.controlPlaneEndpoint : undefined,
    };
  }
  return undefined;
}

function safeDuration(text: string): number | undefined {
  try {
    return parseDuration(text);
  } catch {
    return undefined;
  }
}

/** Where kubeadm keeps a certificate's extra names in the ClusterConfiguration. */
export const SAN_FIELDS = {
  apiserver: ['apiServer', 'certSANs'],
  'etcd-server': ['etcd', 'local', 'serverCertSANs'],
  'etcd-peer': ['etcd', 'local', 'peerCertSANs'],
} as const;

export type SanCertificate = keyof typeof SAN_FIELDS;

/**
 * The kubeadm config text with names added to (or removed from) a certificate's extra names, comments and order kept;
 * undefined when the text holds no ClusterConfiguration. kubeadm reads these names whenever it makes the
 * certificate again (upgrade, certs renew), so they survive.
 */
export function withExtraSans(text: string, cert: SanCertificate, add: string[], remove: string[]): string | undefined {
  const docs = parseAllDocuments(text);
  const doc = docs.find((d) => d.errors.length === 0 && ['ClusterConfiguration', 'MasterConfiguration'].includes(String(d.get('kind'))));
  if (!doc) return undefined;
  const path = SAN_FIELDS[cert];
  const current = doc.getIn(path);
  const names = isSeq(current) ? current.items.map((i) => String((i as { value?: unknown }).value ?? i)) : [];
  const wanted = [...names.filter((n) => !remove.includes(n)), ...add.filter((n) => !names.includes(n))];
  if (isSeq(current)) {
    current.items = current.items.filter((i) => !remove.includes(String((i as { value?: unknown }).value ?? i)));
    for (const n of add.filter((x) => !names.includes(x))) current.items.push(doc.createNode(n));
  } else if (wanted.length > 0) doc.setIn(path, doc.createNode(wanted));
  return docs.map(String).join('');
}

/** An edit of the ClusterConfiguration text: the new text, or undefined when it does not apply (no such document). */
export interface ClusterConfigEdit {
  /** What it records, where: "apiServer.certSANs", "encryptionAlgorithm". */
  field: string;
  apply: (text: string) => string | undefined;
}

export function sansEdit(cert: SanCertificate, add: string[], remove: string[]): ClusterConfigEdit {
  return { field: SAN_FIELDS[cert].join('.'), apply: (text) => withExtraSans(text, cert, add, remove) };
}

/**
 * kubeadm 1.31+ (v1beta4) makes keys of `encryptionAlgorithm`: set to what the certificates now use, so that kubeadm's
 * own renewals agree. Older configurations have no such field (kubeadm makes RSA keys there): not applied.
 */
export function encryptionAlgorithmEdit(algorithm: string): ClusterConfigEdit {
  return {
    field: 'encryptionAlgorithm',
    apply: (text) => {
      const docs = parseAllDocuments(text);
      const doc = docs.find((d) => d.errors.length === 0 && String(d.get('kind')) === 'ClusterConfiguration');
      if (!doc || !/\/v1beta4$/.test(String(doc.get('apiVersion')))) return undefined;
      doc.set('encryptionAlgorithm', algorithm);
      return docs.map(String).join('');
    },
  };
}
