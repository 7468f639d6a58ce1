// kubeadm's certificate catalog as data (reference §2–3), plus the entries kubeadm leaves out.

/** A component that reads certificates, and is restarted (or reloads) when one it uses is renewed. */
export type UsingComponent = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kubelet';

/** A static pod flag that names a certificate file (and its key), as kubeadm writes the manifests. */
export interface ManifestFlag {
  component: Exclude<UsingComponent, 'kubelet'>;
  cert: string;
  key?: string;
}

/**
 * One record per certificate kpki knows, as kubeadm's certlist.go has one per certificate: where it lives, which CA
 * signs it, who uses it, how its expiry counts. Every table below is derived from this list and checked at load.
 */
export interface CertificateSpec {
  name: string;
  kind: 'ca' | 'leaf' | 'kubeconfig' | 'kubelet';
  /** CAs and leaves: the path without extension, relative to the certificates directory. Kubeconfigs: the file. */
  file?: string;
  /** The CA that signs it (leaves and kubeconfigs; the kubelet's serving certificate has its own). */
  ca?: string;
  /** Exists only with stacked (local) etcd. */
  localEtcd?: boolean;
  /** Kubeconfigs listed by `kubeadm certs check-expiration`. */
  kubeadm?: boolean;
  /** Present only on some nodes (super-admin.conf: the node that ran init, 1.29+). */
  optional?: boolean;
  /** What must restart (or reload) after it is renewed. */
  usedBy: UsingComponent[];
  /** Its expiry is a WARNING, not CRITICAL (see EXPIRY_IS_WARNING). */
  expiryIsWarning?: boolean;
  flags?: ManifestFlag[];
}

export const CERTIFICATES: readonly CertificateSpec[] = [
  {
    name: 'ca',
    kind: 'ca',
    file: 'ca',
    usedBy: [],
    flags: [
      { component: 'kube-apiserver', cert: 'client-ca-file' },
      { component: 'kube-controller-manager', cert: 'cluster-signing-cert-file', key: 'cluster-signing-key-file' },
    ],
  },
  {
    name: 'etcd-ca',
    kind: 'ca',
    file: 'etcd/ca',
    usedBy: [],
    flags: [
      { component: 'kube-apiserver', cert: 'etcd-cafile' },
      { component: 'etcd', cert: 'trusted-ca-file' },
    ],
  },
  {
    name: 'front-proxy-ca',
    kind: 'ca',
    file: 'front-proxy-ca',
    usedBy: [],
    flags: [{ component: 'kube-apiserver', cert: 'requestheader-client-ca-file' }],
  },
  {
    name: 'apiserver',
    kind: 'leaf',
    file: 'apiserver',
    ca: 'ca',
    usedBy: ['kube-apiserver'],
    flags: [{ component: 'kube-apiserver', cert: 'tls-cert-file', key: 'tls-private-key-file' }],
  },
  {
    name: 'apiserver-etcd-client',
    kind: 'leaf',
    file: 'apiserver-etcd-client',
    ca: 'etcd-ca',
    localEtcd: true,
    usedBy: ['kube-apiserver'],
    flags: [{ component: 'kube-apiserver', cert: 'etcd-certfile', key: 'etcd-keyfile' }],
  },
  {
    name: 'apiserver-kubelet-client',
    kind: 'leaf',
    file: 'apiserver-kubelet-client',
    ca: 'ca',
    usedBy: ['kube-apiserver'],
    flags: [{ component: 'kube-apiserver', cert: 'kubelet-client-certificate', key: 'kubelet-client-key' }],
  },
  { name: 'etcd-healthcheck-client', kind: 'leaf', file: 'etcd/healthcheck-client', ca: 'etcd-ca', localEtcd: true, usedBy: [] },
  {
    name: 'etcd-peer',
    kind: 'leaf',
    file: 'etcd/peer',
    ca: 'etcd-ca',
    localEtcd: true,
    usedBy: ['etcd'],
    flags: [{ component: 'etcd', cert: 'peer-cert-file', key: 'peer-key-file' }],
  },
  {
    name: 'etcd-server',
    kind: 'leaf',
    file: 'etcd/server',
    ca: 'etcd-ca',
    localEtcd: true,
    usedBy: ['etcd'],
    flags: [{ component: 'etcd', cert: 'cert-file', key: 'key-file' }],
  },
  {
    name: 'front-proxy-client',
    kind: 'leaf',
    file: 'front-proxy-client',
    ca: 'front-proxy-ca',
    usedBy: ['kube-apiserver'],
    flags: [{ component: 'kube-apiserver', cert: 'proxy-client-cert-file', key: 'proxy-client-key-file' }],
  },
  { name: 'admin.conf', kind: 'kubeconfig', file: 'admin.conf', ca: 'ca', kubeadm: true, usedBy: [] },
  {
    name: 'controller-manager.conf',
    kind: 'kubeconfig',
    file: 'controller-manager.conf',
    ca: 'ca',
    kubeadm: true,
    usedBy: ['kube-controller-manager'],
    flags: [{ component: 'kube-controller-manager', cert: 'kubeconfig' }],
  },
  {
    name: 'scheduler.conf',
    kind: 'kubeconfig',
    file: 'scheduler.conf',
    ca: 'ca',
    kubeadm: true,
    usedBy: ['kube-scheduler'],
    flags: [{ component: 'kube-scheduler', cert: 'kubeconfig' }],
  },
  { name: 'super-admin.conf', kind: 'kubeconfig', file: 'super-admin.conf', ca: 'ca', kubeadm: true, optional: true, usedBy: [] },
  { name: 'kubelet.conf', kind: 'kubeconfig', file: 'kubelet.conf', ca: 'ca', kubeadm: false, usedBy: ['kubelet'] },
  { name: 'kubelet-client', kind: 'kubelet', ca: 'ca', usedBy: ['kubelet'] },
  // the kubelet reads kubelet.crt at start (1.31+ also watches it: ReloadKubeletServerCertificateFile). Its expiry is
  // a WARNING: no kube-apiserver verifies it unless --kubelet-certificate-authority is set; it breaks scrapers that
  // verify it (metrics-server without --kubelet-insecure-tls, Prometheus), not the cluster.
  { name: 'kubelet-serving', kind: 'kubelet', usedBy: ['kubelet'], expiryIsWarning: true },
];

/** The catalog's own consistency, checked once at load: a wrong record fails every command and test at once. */
export function catalogProblems(specs: readonly CertificateSpec[]): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  for (const spec of specs) {
    if (names.has(spec.name)) problems.push(`${spec.name}: listed twice`);
    names.add(spec.name);
    if (spec.ca !== undefined && !specs.some((c) => c.name === spec.ca && c.kind === 'ca'))
      problems.push(`${spec.name}: signed by ${spec.ca}, which is no CA of the catalog`);
    if (spec.kind === 'leaf' && !spec.ca) problems.push(`${spec.name}: a leaf without its CA`);
    if ((spec.kind === 'ca' || spec.kind === 'leaf' || spec.kind === 'kubeconfig') && !spec.file) problems.push(`${spec.name}: no file`);
    if (spec.kind === 'ca' && spec.usedBy.length > 0) problems.push(`${spec.name}: a CA is never renewed, so nothing restarts for it`);
    for (const f of spec.flags ?? []) {
      if (spec.kind === 'leaf' && !f.key) problems.push(`${spec.name}: --${f.cert} without its key flag`);
      if (spec.kind !== 'ca' && !spec.usedBy.includes(f.component))
        problems.push(`${spec.name}: ${f.component} names it (--${f.cert}) but is not among its users`);
    }
  }
  return problems;
}

{
  const problems = catalogProblems(CERTIFICATES);
  if (problems.length > 0) throw new Error(`kpki's certificate catalog is inconsistent:\n  ${problems.join('\n  ')}`);
}

// The tables the scanners and planners read, derived from CERTIFICATES.

export interface CaSpec {
  name: string;
  /** Path of the certificate without extension, relative to the certificates directory. */
  base: string;
}

export interface LeafCatalogEntry {
  name: string;
  base: string;
  ca: string;
  /** Exists only with stacked (local) etcd. */
  localEtcd: boolean;
}

export interface KubeconfigCatalogEntry {
  name: string;
  file: string;
  /** Listed by `kubeadm certs check-expiration`. */
  kubeadm: boolean;
  /** Present only on some nodes (super-admin.conf: the node that ran init, 1.29+). */
  optional: boolean;
}

const ofKind = (kind: CertificateSpec['kind']) => CERTIFICATES.filter((c) => c.kind === kind);

export const CA_CATALOG: CaSpec[] = ofKind('ca').map((c) => ({ name: c.name, base: c.file! }));

export const LEAF_CATALOG: LeafCatalogEntry[] = ofKind('leaf').map((c) => ({
  name: c.name,
  base: c.file!,
  ca: c.ca!,
  localEtcd: c.localEtcd ?? false,
}));

export const KUBECONFIG_CATALOG: KubeconfigCatalogEntry[] = ofKind('kubeconfig').map((c) => ({
  name: c.name,
  file: c.file!,
  kubeadm: c.kubeadm ?? false,
  optional: c.optional ?? false,
}));

/** Static pod manifest flags that name certificate files, per component: catalog name, cert flag, key flag. */
/** rank: the flag's place in its certificate's list; the first one found names the file (kube-apiserver's first). */
export const MANIFEST_CERT_FLAGS: Record<string, { name: string; cert: string; key?: string; rank: number }[]> = {};
for (const spec of CERTIFICATES)
  for (const [rank, f] of (spec.flags ?? []).entries())
    (MANIFEST_CERT_FLAGS[f.component] ??= []).push({ name: spec.name, cert: f.cert, key: f.key, rank });

/** Which component uses which certificate: what must restart after a renewal. */
export const USED_BY: Record<string, string[]> = Object.fromEntries(
  CERTIFICATES.filter((c) => c.kind !== 'ca').map((c) => [c.name, [...c.usedBy]]),
);

/**
 * The catalog certificate a scanned one stands for: etcd's member-<host>.pem of the Kubespray and KubeKey layout
 * (scanned as etcd-member-<host>) is etcd's serving and peer certificate, as etcd-server is; others are themselves.
 */
export const catalogNameOf = (name: string) => (/^etcd-member-/.test(name) ? 'etcd-server' : name);

/** Which components use a certificate, by its (scanned) name. */
export const componentsUsingCertificate = (name: string): string[] => USED_BY[catalogNameOf(name)] ?? [];

/** Certificates whose expiry is a WARNING, not CRITICAL (the kubelet's serving certificate: see its record). */
export const EXPIRY_IS_WARNING = new Set(CERTIFICATES.filter((c) => c.expiryIsWarning).map((c) => c.name));

export const DEFAULT_CERT_DIR = '/etc/kubernetes/pki';
export const DEFAULT_KUBECONFIG_DIR = '/etc/kubernetes';
export const MANIFEST_DIR = '/etc/kubernetes/manifests';
export const KUBELET_PKI_DIR = '/var/lib/kubelet/pki';
export const KUBELET_CONFIG = '/var/lib/kubelet/config.yaml';
export const ETCD_SSL_DIR = '/etc/ssl/etcd/ssl';
export const KUBEADM_CONFIG_CANDIDATES = [
  '/etc/kubernetes/kubeadm-config.yaml',
  '/etc/kubernetes/kubeadm.conf',
  '/etc/kubernetes/kubeadm.yaml',
  '/etc/kubernetes/kubeadm-init.yaml',
  '/root/kubeadm-config.yaml',
];
