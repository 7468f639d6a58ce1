// kubeadm's ClusterConfiguration (and v1alpha1 MasterConfiguration): the settings renewal needs.
import { parseAllDocuments } from 'yaml';
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
