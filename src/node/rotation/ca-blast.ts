// The blast radius of one CA on one node, from its files only: what holds the CA (and so must hold a bundle of old and
// new during a rotation), what the CA signed (re-issued from the new CA), and what restarts in each phase.
import { createPublicKey } from 'node:crypto';
import { posix } from 'node:path';
import { publicKeysOf } from '../../pki/public-keys.js';
import { parse } from 'yaml';
import { KUBELET_CONFIG, componentsUsingCertificate, UsingComponent } from '../../kubeadm/catalog.js';
import { KUBECONFIG_READERS, ReadAt, RotatableCa, TRUST_FLAGS } from '../../kubeadm/ca-trust.js';
import { parseKubeconfig } from '../../kubeadm/kubeconfig.js';
import type { Host } from '../../hosts/host.js';
import { parseEnvironmentFile } from '../../util/env-file.js';
import { readOptional } from '../scan/index.js';
import { CERT_TYPE, parsePem } from '../../pki/pem.js';
import type { Certificate } from '../../pki/certificate.js';
import type { NodeScan } from '../scan/index.js';

export interface TrustPlace {
  /** The file that holds the CA (or the service-account key). */
  path: string;
  /** What names it: "kube-apiserver --client-ca-file", "kubelet.conf certificate-authority-data". */
  via: string;
  component?: UsingComponent;
  readAt: ReadAt | 'per-use';
  signs?: boolean;
  /** The static pod flag that names the file, and the manifest it is in. */
  flag?: { name: string; manifest: string };
  /** The CA is embedded in this kubeconfig (certificate-authority-data), not a PEM file of its own. */
  kubeconfig?: boolean;
  why: string;
}

export interface SignedPlace {
  name: string;
  path: string;
  usedBy: string[];
}

export interface NodeBlastRadius {
  node: string;
  role: NodeScan['role'];
  ca: {
    name: RotatableCa;
    path: string;
    present: boolean;
    keyPresent: boolean;
    subject?: string;
    notAfter?: string;
    expired?: boolean;
    /** --discovery-token-ca-cert-hash (the cluster CA only). */
    joinHash?: string;
    /** The CA file trusts this many more CAs (a rotation in progress: kpki ca rotate --phase verify tells where). */
    alsoTrusted?: number;
  };
  trusts: TrustPlace[];
  signed: SignedPlace[];
  /** The kubelet's client certificate: signed by the cluster CA; renewed by rotation or by kpki. */
  kubeletClient?: { path: string; rotation: boolean; signedByThisCa: boolean };
  /** Components to restart per phase (an estimate: what reads the changed files only at start). */
  restarts: { trust: string[]; issue: string[]; finish: string[] };
}

/** Does this PEM text hold the CA certificate (alone or in a bundle)? */
function holdsCertificate(text: Buffer | string, ca: Certificate): boolean {
  return parsePem(text).some((b) => b.type === CERT_TYPE && b.der.equals(ca.der));
}

/** Does this file hold the same key pair (public or private half) as the service-account key? */
function holdsKey(text: Buffer, spki: Buffer): boolean {
  return safeSpki(text)?.equals(spki) ?? false;
}

/** A file's bytes, or undefined when it is absent or cannot be read (check reports those; a plan only looks). */
async function readIfThere(host: Host, path: string): Promise<Buffer | undefined> {
  const file = await readOptional(host, path);
  return file.ok ? file.value : undefined;
}

/** The kubelet's config file, parsed once ({} when absent or not YAML: check reports that). */
async function kubeletConfig(host: Host): Promise<Record<string, any>> {
  const text = await readIfThere(host, KUBELET_CONFIG);
  try {
    return (text && parse(text.toString())) || {};
  } catch {
    return {};
  }
}

type Matcher = (content: Buffer) => boolean;

/** The static pod flags that name a file holding the CA. */
async function flagPlaces(host: Host, scan: NodeScan, caName: RotatableCa, matches: Matcher): Promise<TrustPlace[]> {
  const places: TrustPlace[] = [];
  for (const trust of TRUST_FLAGS[caName]) {
    const pod = scan.manifests.find((m) => m.component === trust.component);
    const value = pod?.flags.get(trust.flag);
    if (!pod || !value) continue;
    const path = posix.resolve(pod.workingDir, value);
    const content = await readIfThere(host, path);
    if (!content || !matches(content)) continue;
    places.push({
      path,
      via: `${trust.component} --${trust.flag}`,
      component: trust.component,
      readAt: trust.readAt,
      signs: trust.signs,
      flag: pod.path ? { name: trust.flag, manifest: pod.path } : undefined,
      why: trust.why,
    });
  }
  return places;
}

/** Kubeconfigs whose certificate-authority-data (or -file) holds the CA, and the kubelet's clientCAFile. */
async function clusterCaPlaces(host: Host, scan: NodeScan, ca: Certificate, config: Record<string, any>): Promise<TrustPlace[]> {
  const places: TrustPlace[] = [];
  for (const [name, reader] of Object.entries(KUBECONFIG_READERS)) {
    const path = posix.join(scan.kubeconfigDir, name);
    const text = await readIfThere(host, path);
    if (!text) continue;
    let id: ReturnType<typeof parseKubeconfig>;
    try {
      id = parseKubeconfig(text.toString());
    } catch {
      continue; // check reports a kubeconfig that does not parse
    }
    const caFile = id.certificateAuthorityFile && posix.resolve(scan.kubeconfigDir, id.certificateAuthorityFile);
    const data = id.certificateAuthorityData ?? (caFile && (await readIfThere(host, caFile)));
    if (!data || !holdsCertificate(data, ca)) continue;
    const embedded = Boolean(id.certificateAuthorityData);
    places.push({
      // (a kubeconfig that names a CA file: the place is that file)
      path: embedded ? path : (caFile as string),
      kubeconfig: embedded,
      via: `${name} ${embedded ? 'certificate-authority-data' : 'certificate-authority'}`,
      component: reader,
      readAt: reader ? 'start' : 'per-use',
      why: reader ? `${reader} trusts the API server's certificate with it` : 'kubectl trusts the API server with it',
    });
  }
  const clientCaFile = config.authentication?.x509?.clientCAFile;
  if (typeof clientCaFile === 'string') {
    const path = posix.resolve('/var/lib/kubelet', clientCaFile);
    const content = await readIfThere(host, path);
    if (content && holdsCertificate(content, ca))
      places.push({
        path,
        via: `kubelet clientCAFile (${KUBELET_CONFIG})`,
        component: 'kubelet',
        readAt: 'start',
        why: "kube-apiserver's kubelet client certificate (reloaded only with the ReloadKubeletClientCAFile feature gate)",
      });
  }
  return places;
}

/** etcd as a systemd service (Kubespray, KubeKey): its trusted CA files are named in /etc/etcd.env. */
const ETCD_ENV = '/etc/etcd.env';
const ETCD_ENV_TRUST = ['ETCD_TRUSTED_CA_FILE', 'ETCD_PEER_TRUSTED_CA_FILE'];

async function etcdEnvPlaces(host: Host, ca: Certificate): Promise<TrustPlace[]> {
  const env = await readIfThere(host, ETCD_ENV);
  if (!env) return [];
  const places: TrustPlace[] = [];
  const vars = parseEnvironmentFile(env.toString());
  for (const name of ETCD_ENV_TRUST) {
    const path = vars.get(name);
    const content = path ? await readIfThere(host, path) : undefined;
    if (!path || !content || !holdsCertificate(content, ca)) continue;
    places.push({
      path,
      via: `etcd ${name} (${ETCD_ENV})`,
      component: 'etcd',
      readAt: 'start',
      why: name === 'ETCD_TRUSTED_CA_FILE' ? 'etcd client certificates' : 'etcd peer certificates',
    });
  }
  return places;
}

function restartsOf(trusts: TrustPlace[], signed: SignedPlace[], kubeletEmbedded: boolean): NodeBlastRadius['restarts'] {
  const atStart = [...new Set(trusts.filter((t) => t.readAt === 'start' && t.component).map((t) => t.component!))];
  const issue = new Set<string>(signed.flatMap((s) => s.usedBy));
  for (const t of trusts) if (t.signs && t.component) issue.add(t.component);
  if (!kubeletEmbedded) issue.delete('kubelet'); // a rotating kubelet reloads its client certificate by itself
  const order = (list: Iterable<string>) => [...list].sort((a, b) => COMPONENT_ORDER.indexOf(a) - COMPONENT_ORDER.indexOf(b));
  return { trust: order(atStart), issue: order(issue), finish: order(atStart) };
}

const COMPONENT_ORDER = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet'];

export async function blastRadius(host: Host, scan: NodeScan, caName: RotatableCa, now = new Date()): Promise<NodeBlastRadius> {
  const entry = scan.cas.find((c) => c.name === caName);
  const caPath = caName === 'sa' ? posix.join(scan.certDir, 'sa.pub') : (entry?.certPath ?? '');
  const config = await kubeletConfig(host);
  const cert = entry?.cert;
  let trusts: TrustPlace[] = [];
  let ca: NodeBlastRadius['ca'] = { name: caName, path: caPath, present: false, keyPresent: false };
  if (caName === 'sa') {
    const pub = await readIfThere(host, caPath);
    const spki = pub && safeSpki(pub);
    const keys = pub ? safeKeyCount(pub) : 0;
    ca = {
      ...ca,
      present: Boolean(spki),
      keyPresent: Boolean(await host.stat(posix.join(scan.certDir, 'sa.key'))),
      alsoTrusted: keys > 1 ? keys - 1 : undefined,
    };
    if (spki) trusts = await flagPlaces(host, scan, caName, (c) => holdsKey(c, spki));
  } else if (cert) {
    const expired = cert.notAfter.getTime() <= now.getTime();
    ca = {
      ...ca,
      present: true,
      keyPresent: entry!.keyPresent,
      subject: cert.subject,
      notAfter: cert.notAfter.toISOString(),
      expired,
      joinHash: caName === 'ca' ? `sha256:${cert.spkiSha256}` : undefined,
      alsoTrusted: entry!.alsoTrusted?.length,
    };
    trusts = await flagPlaces(host, scan, caName, (c) => holdsCertificate(c, cert));
    if (caName === 'ca') trusts.push(...(await clusterCaPlaces(host, scan, cert, config)));
    if (caName === 'etcd-ca') trusts.push(...(await etcdEnvPlaces(host, cert)));
  }
  const signed = scan.entries
    .filter((e) => e.signer === caName && e.cert)
    .map((e) => ({ name: e.name, path: e.path, usedBy: componentsUsingCertificate(e.name) }));
  // kubelet.conf with the credentials embedded (the kubelet cannot rotate them), or kubelet-client-current.pem
  const kubelet = scan.entries.find((e) => e.name === 'kubelet-client' || e.name === 'kubelet.conf');
  const rotation = config.rotateCertificates === true;
  const kubeletClient =
    kubelet?.cert && caName === 'ca' ? { path: kubelet.path, rotation, signedByThisCa: kubelet.signer === 'ca' } : undefined;
  return {
    node: scan.node,
    role: scan.role,
    ca,
    trusts,
    signed,
    kubeletClient,
    restarts: restartsOf(trusts, signed, kubelet?.name === 'kubelet.conf'),
  };
}

/** How many public keys sa.pub holds (more than one: a rotation in progress). */
function safeKeyCount(pem: Buffer): number {
  try {
    return publicKeysOf(pem).length;
  } catch {
    return 0;
  }
}

function safeSpki(pem: Buffer): Buffer | undefined {
  try {
    return createPublicKey(pem).export({ type: 'spki', format: 'der' });
  } catch {
    return undefined;
  }
}
