// kubeadm's certificate catalog as data (reference §2–3), plus the entries kubeadm leaves out.

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

export const CA_CATALOG: CaSpec[] = [
  { name: 'ca', base: 'ca' },
  { name: 'etcd-ca', base: 'etcd/ca' },
  { name: 'front-proxy-ca', base: 'front-proxy-ca' },
];

export const LEAF_CATALOG: LeafCatalogEntry[] = [
  { name: 'apiserver', base: 'apiserver', ca: 'ca', localEtcd: false },
  { name: 'apiserver-etcd-client', base: 'apiserver-etcd-client', ca: 'etcd-ca', localEtcd: true },
  { name: 'apiserver-kubelet-client', base: 'apiserver-kubelet-client', ca: 'ca', localEtcd: false },
  { name: 'etcd-healthcheck-client', base: 'etcd/healthcheck-client', ca: 'etcd-ca', localEtcd: true },
  { name: 'etcd-peer', base: 'etcd/peer', ca: 'etcd-ca', localEtcd: true },
  { name: 'etcd-server', base: 'etcd/server', ca: 'etcd-ca', localEtcd: true },
  { name: 'front-proxy-client', base: 'front-proxy-client', ca: 'front-proxy-ca', localEtcd: false },
];

export interface KubeconfigCatalogEntry {
  name: string;
  file: string;
  /** Listed by `kubeadm certs check-expiration`. */
  kubeadm: boolean;
  /** Present only on some nodes (super-admin.conf: the node that ran init, 1.29+). */
  optional: boolean;
}

export const KUBECONFIG_CATALOG: KubeconfigCatalogEntry[] = [
  { name: 'admin.conf', file: 'admin.conf', kubeadm: true, optional: false },
  { name: 'controller-manager.conf', file: 'controller-manager.conf', kubeadm: true, optional: false },
  { name: 'scheduler.conf', file: 'scheduler.conf', kubeadm: true, optional: false },
  { name: 'super-admin.conf', file: 'super-admin.conf', kubeadm: true, optional: true },
  { name: 'kubelet.conf', file: 'kubelet.conf', kubeadm: false, optional: false },
];

/** Static pod manifest flags that name certificate files, mapped to catalog names (cert flag, key flag). */
export const MANIFEST_CERT_FLAGS: Record<string, { name: string; cert: string; key?: string }[]> = {
  'kube-apiserver': [
    { name: 'apiserver', cert: 'tls-cert-file', key: 'tls-private-key-file' },
    { name: 'apiserver-kubelet-client', cert: 'kubelet-client-certificate', key: 'kubelet-client-key' },
    { name: 'front-proxy-client', cert: 'proxy-client-cert-file', key: 'proxy-client-key-file' },
    { name: 'apiserver-etcd-client', cert: 'etcd-certfile', key: 'etcd-keyfile' },
    { name: 'ca', cert: 'client-ca-file' },
    { name: 'front-proxy-ca', cert: 'requestheader-client-ca-file' },
    { name: 'etcd-ca', cert: 'etcd-cafile' },
  ],
  etcd: [
    { name: 'etcd-server', cert: 'cert-file', key: 'key-file' },
    { name: 'etcd-peer', cert: 'peer-cert-file', key: 'peer-key-file' },
    { name: 'etcd-ca', cert: 'trusted-ca-file' },
  ],
  'kube-controller-manager': [
    { name: 'controller-manager.conf', cert: 'kubeconfig' },
    { name: 'ca', cert: 'cluster-signing-cert-file', key: 'cluster-signing-key-file' },
  ],
  'kube-scheduler': [{ name: 'scheduler.conf', cert: 'kubeconfig' }],
};

/** Which component uses which certificate: what must restart after a renewal. */
export const USED_BY: Record<string, string[]> = {
  apiserver: ['kube-apiserver'],
  'apiserver-etcd-client': ['kube-apiserver'],
  'apiserver-kubelet-client': ['kube-apiserver'],
  'front-proxy-client': ['kube-apiserver'],
  'etcd-server': ['etcd'],
  'etcd-peer': ['etcd'],
  'etcd-healthcheck-client': [],
  'admin.conf': [],
  'super-admin.conf': [],
  'controller-manager.conf': ['kube-controller-manager'],
  'scheduler.conf': ['kube-scheduler'],
  'kubelet.conf': ['kubelet'],
  'kubelet-client': ['kubelet'],
  // the kubelet reads kubelet.crt at start (1.31+ also watches it: ReloadKubeletServerCertificateFile)
  'kubelet-serving': ['kubelet'],
};

/**
 * Certificates whose expiry is a WARNING, not CRITICAL: the kubelet's serving certificate is verified by no
 * kube-apiserver unless --kubelet-certificate-authority is set; its expiry breaks scrapers that verify it
 * (metrics-server without --kubelet-insecure-tls, Prometheus), not the cluster.
 */
export const EXPIRY_IS_WARNING = new Set(['kubelet-serving']);

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
