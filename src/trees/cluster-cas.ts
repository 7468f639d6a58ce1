// The three CAs of a lab cluster and its service-account key pair, shared by all its nodes.
import type { KeyObject } from 'node:crypto';
import { Certificate } from '../pki/certificate.js';
import { selfSignCa } from '../pki/issue.js';
import { generatePrivateKey, KeyAlgorithm } from '../pki/keys.js';

export interface LabCa {
  name: 'ca' | 'front-proxy-ca' | 'etcd-ca';
  cert: Certificate;
  key: KeyObject;
}

export interface LabCas {
  ca: LabCa;
  frontProxyCa: LabCa;
  etcdCa: LabCa;
  keyAlgorithm: KeyAlgorithm;
  /** The service-account key pair: like the CAs, one per cluster, shared by every control-plane node. */
  serviceAccountKey?: KeyObject;
}

export interface CaOptions {
  keyAlgorithm?: KeyAlgorithm;
  notBefore?: Date;
  notAfter?: Date;
  /** kubeadm ≤ 1.11: front-proxy-ca (and in 1.11 etcd-ca) have the subject CN=kubernetes too. */
  legacyNames?: boolean;
  /** kubeadm ≤ 1.25 made CA serial 00. */
  zeroSerial?: boolean;
}

export async function makeClusterCas(options: CaOptions = {}): Promise<LabCas> {
  const keyAlgorithm = options.keyAlgorithm ?? 'ECDSA-P256';
  const notBefore = options.notBefore ?? new Date(Date.now() - 10 * 60_000);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + 10 * 365 * 86_400_000);
  const serial = options.zeroSerial ? '00' : undefined;
  const make = async (name: LabCa['name'], commonName: string, dnsNames?: string[]): Promise<LabCa> => {
    const key = await generatePrivateKey(keyAlgorithm);
    return { name, key, cert: await selfSignCa({ commonName, dnsNames, key, notBefore, notAfter, serial }) };
  };
  const [ca, frontProxyCa, etcdCa, serviceAccountKey] = await Promise.all([
    make('ca', 'kubernetes', options.legacyNames ? undefined : ['kubernetes']),
    make('front-proxy-ca', options.legacyNames ? 'kubernetes' : 'front-proxy-ca'),
    make('etcd-ca', options.legacyNames ? 'kubernetes' : 'etcd-ca'),
    generatePrivateKey(keyAlgorithm),
  ]);
  return { ca, frontProxyCa, etcdCa, keyAlgorithm, serviceAccountKey };
}
