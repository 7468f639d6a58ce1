// The kubelet's certificates: where its client identity lives, whether it rotates them, and an offline renewal of its
// client certificate the kubelet's own way (new kubelet-client-<time>.pem, kubelet-client-current.pem swapped, and
// kubelet.conf pointing at that file instead of embedding a certificate that nobody rotates).
import { posix } from 'node:path';
import type { Host } from '../../hosts/host.js';
import { KUBELET_CONFIG, KUBELET_PKI_DIR } from '../../kubeadm/catalog.js';
import { parseKubeconfig, yamlStyleOf } from '../../kubeadm/kubeconfig.js';
import { Certificate, certificateToPem, parseCertificate } from '../../pki/certificate.js';
import { distinguishedName, issueCertificate, leafExtensions } from '../../pki/issue.js';
import { generatePrivateKey, privateKeyToPem } from '../../pki/keys.js';
import type { KeyObject } from 'node:crypto';
import { isMap, isSeq, parse, parseDocument } from 'yaml';
import { KpkiError, UsageError } from '../../errors.js';
import type { FileWrite } from '../renew/index.js';
import type { NodeScan } from '../scan/index.js';
import { BACKDATE_MS } from '../renew/index.js';

export const KUBELET_CLIENT_LINK = posix.join(KUBELET_PKI_DIR, 'kubelet-client-current.pem');

/** The kubelet's client certificate exists and expires within `windowMs` of `now`: the one test of "is it due". */
export function kubeletClientDue(status: KubeletStatus, windowMs: number, now: Date): boolean {
  return status.client !== undefined && status.client.notAfter.getTime() - now.getTime() <= windowMs;
}

export interface KubeletStatus {
  kubeconfig: string;
  identity: 'embedded' | 'file' | 'missing';
  clientFile?: string;
  client?: Certificate;
  rotateCertificates?: boolean;
  serverTLSBootstrap?: boolean;
  serving?: Certificate;
  servingSource?: string;
  servingSigner?: string;
  clusterSigningDuration?: string;
  warnings: string[];
}

export async function kubeletStatus(host: Host, scan: NodeScan): Promise<KubeletStatus> {
  const kubeconfig = posix.join(scan.kubeconfigDir, 'kubelet.conf');
  const status: KubeletStatus = { kubeconfig, identity: 'missing', warnings: [] };
  if (await host.stat(kubeconfig)) {
    const id = parseKubeconfig((await host.readFile(kubeconfig)).toString());
    if (id.clientCertificateData) {
      status.identity = 'embedded';
      status.client = parseCertificate(id.clientCertificateData);
    } else if (id.clientCertificateFile) {
      status.identity = 'file';
      status.clientFile = id.clientCertificateFile;
      status.client = parseCertificate(await host.readFile(posix.resolve(scan.kubeconfigDir, id.clientCertificateFile)));
    }
  }
  if (await host.stat(KUBELET_CONFIG)) {
    const config = parse((await host.readFile(KUBELET_CONFIG)).toString()) ?? {};
    status.rotateCertificates = config.rotateCertificates;
    status.serverTLSBootstrap = config.serverTLSBootstrap;
  }
  const serving = scan.entries.find((e) => e.name === 'kubelet-serving');
  status.serving = serving?.cert;
  status.servingSource = serving?.path;
  status.servingSigner = serving?.signer;
  const cm = scan.manifests.find((m) => m.component === 'kube-controller-manager');
  status.clusterSigningDuration = cm
    ? (cm.flags.get('cluster-signing-duration') ?? cm.flags.get('experimental-cluster-signing-duration') ?? '8760h (default)')
    : undefined;
  if (status.identity === 'embedded')
    status.warnings.push(
      'the client certificate is embedded in kubelet.conf: the kubelet cannot rotate it (kpki kubelet renew switches to kubelet-client-current.pem)',
    );
  if (status.rotateCertificates !== true)
    status.warnings.push('rotateCertificates is not true in the kubelet config: the client certificate will expire unless renewed by hand');
  if (status.client && status.client.notAfter.getTime() < Date.now())
    status.warnings.push('the client certificate has expired: the node is NotReady (kpki kubelet renew)');
  return status;
}

export interface KubeletRenewal {
  nodeName: string;
  writes: FileWrite[];
  notAfter: Date;
  certPem: string;
  keyPem: string;
}

/** The node name the kubelet authenticates as: from its current certificate, else given. */
export function kubeletNodeName(status: KubeletStatus, given?: string): string {
  const fromCert = /^system:node:(.+)$/.exec(status.client?.commonName ?? '')?.[1];
  const name = given ?? fromCert;
  if (!name) throw new UsageError('cannot tell the node name (no kubelet client certificate to read it from): give --node-name');
  return name;
}

/** Plans the renewal: new key (ECDSA P-256, as the kubelet makes), certificate from the cluster CA, files. */
export async function planKubeletRenewal(
  host: Host,
  status: KubeletStatus,
  ca: { cert: Certificate; key: KeyObject },
  o: { nodeName: string; validityMs: number; now: Date },
): Promise<KubeletRenewal> {
  const key = await generatePrivateKey('ECDSA-P256');
  const notBefore = new Date(o.now.getTime() - BACKDATE_MS);
  const wanted = new Date(o.now.getTime() + o.validityMs);
  const notAfter = wanted > ca.cert.notAfter ? ca.cert.notAfter : wanted;
  const cert = await issueCertificate({
    subject: distinguishedName(`system:node:${o.nodeName}`, ['system:nodes']),
    extensions: leafExtensions({ commonName: `system:node:${o.nodeName}`, organizations: ['system:nodes'], extKeyUsages: ['clientAuth'] }),
    publicKey: key,
    notBefore,
    notAfter,
    signer: ca,
  });
  const certPem = certificateToPem(cert);
  const keyPem = privateKeyToPem(key);
  const stamp = o.now
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/[T:]/g, '-');
  const file = posix.join(KUBELET_PKI_DIR, `kubelet-client-${stamp}.pem`);
  const link = await host.stat(KUBELET_CLIENT_LINK);
  if (link && link.type !== 'symlink')
    throw new KpkiError(`${host.describe(KUBELET_CLIENT_LINK)} is not a symlink: not replacing it`, { path: KUBELET_CLIENT_LINK });
  const writes: FileWrite[] = [
    { kind: 'file', path: file, data: certPem + keyPem, mode: 0o600, entry: 'kubelet-client', format: 'pem' },
    { kind: 'symlink', path: KUBELET_CLIENT_LINK, target: file, entry: 'kubelet-client' },
  ];
  if (status.identity !== 'file' || status.clientFile !== KUBELET_CLIENT_LINK) {
    writes.push({
      kind: 'file',
      path: status.kubeconfig,
      data: await kubeconfigWithFiles(host, status.kubeconfig),
      mode: 0o600,
      entry: 'kubelet.conf',
      format: 'yaml',
    });
  }
  return { nodeName: o.nodeName, writes, notAfter, certPem, keyPem };
}

/** kubelet.conf with its user pointing at kubelet-client-current.pem (embedded data and other refs removed). */
async function kubeconfigWithFiles(host: Host, path: string): Promise<string> {
  const text = (await host.readFile(path)).toString();
  const id = parseKubeconfig(text);
  const doc = parseDocument(text);
  const users = doc.get('users');
  const entry = isSeq(users) ? users.items.find((u) => isMap(u) && u.get('name') === id.userName) : undefined;
  const user = isMap(entry) ? entry.get('user') : undefined;
  if (!isMap(user)) throw new KpkiError(`${host.describe(path)} lacks the user "${id.userName}"`, { path });
  for (const key of ['client-certificate-data', 'client-key-data', 'client-certificate', 'client-key']) user.delete(key);
  user.set('client-certificate', KUBELET_CLIENT_LINK);
  user.set('client-key', KUBELET_CLIENT_LINK);
  return doc.toString(yamlStyleOf(text));
}
