// Builds a realistic kubeadm node tree under a root directory (what `kubeadm init`/`join` leave on disk).
import { mkdirSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { certificateToPem } from '../pki/certificate.js';
import { distinguishedName, issueCertificate, issueWithThrowawayCa, leafExtensions, LeafSpec } from '../pki/issue.js';
import { generatePrivateKey, privateKeyToPem } from '../pki/keys.js';
import { toPem } from '../pki/pem.js';
import { renderKubeconfig } from '../kubeadm/kubeconfig.js';
import type { LabCa, LabCas } from './cluster-cas.js';
import { renderManifests } from './manifests.js';
import { type EtcdMember, kubesprayEtcdClient, writeKubesprayEtcd } from './kubespray-etcd.js';

export interface NodeOptions {
  nodeName: string;
  /** The node's address: advertise address, SANs, manifests (lab nodes use 127.0.0.N). */
  address: string;
  /** host:port every kubeconfig but controller-manager/scheduler points at. */
  controlPlaneEndpoint?: string;
  leafNotBefore?: Date;
  leafNotAfter?: Date;
  /** kubeadm flavour: "1.29" (kubeadm:cluster-admins, super-admin.conf), "1.18" (file-based kubelet.conf), "1.11" (old O values, embedded kubelet.conf). */
  flavour?: '1.29' | '1.18' | '1.11';
  /** super-admin.conf exists only on the node that ran `kubeadm init`. */
  initNode?: boolean;
  stackedEtcd?: boolean;
  /** Extra API server SANs (apiServer.certSANs). */
  certSans?: string[];
  /** etcd's --initial-cluster (all stacked members); defaults to this node alone. */
  initialCluster?: string;
  /** Address for kubeadm's node-local endpoints (see ManifestOptions.localAddress). */
  localAddress?: string;
  /** etcd as Kubespray runs it (a systemd service, /etc/ssl/etcd/ssl) instead of kubeadm's stacked static pod. */
  kubesprayEtcd?: { self: EtcdMember; members: EtcdMember[]; etcRoot: string };
}

const DAY = 86_400_000;

interface Ctx {
  root: string;
  cas: LabCas;
  notBefore: Date;
  notAfter: Date;
}

function write(root: string, path: string, data: string, mode: number): void {
  const real = join(root, path);
  mkdirSync(dirname(real), { recursive: true, mode: 0o755 });
  writeFileSync(real, data, { mode });
  chmodSync(real, mode);
}

async function leaf(ctx: Ctx, spec: LeafSpec, signer: LabCa): Promise<{ certPem: string; keyPem: string }> {
  const key = await generatePrivateKey(ctx.cas.keyAlgorithm);
  const cert = await issueCertificate({
    subject: distinguishedName(spec.commonName, spec.organizations),
    extensions: leafExtensions(spec),
    publicKey: key,
    notBefore: ctx.notBefore,
    notAfter: ctx.notAfter,
    signer,
  });
  return { certPem: certificateToPem(cert), keyPem: privateKeyToPem(key) };
}

async function pairFile(ctx: Ctx, base: string, spec: LeafSpec, signer: LabCa): Promise<void> {
  const { certPem, keyPem } = await leaf(ctx, spec, signer);
  write(ctx.root, `/etc/kubernetes/pki/${base}.crt`, certPem, 0o644);
  write(ctx.root, `/etc/kubernetes/pki/${base}.key`, keyPem, 0o600);
}

function writeCas(ctx: Ctx, etcdCa = true): void {
  const files: [LabCa, string][] = [
    [ctx.cas.ca, 'ca'],
    [ctx.cas.frontProxyCa, 'front-proxy-ca'],
    ...(etcdCa ? [[ctx.cas.etcdCa, 'etcd/ca'] as [LabCa, string]] : []),
  ];
  for (const [ca, base] of files) {
    write(ctx.root, `/etc/kubernetes/pki/${base}.crt`, certificateToPem(ca.cert), 0o644);
    write(ctx.root, `/etc/kubernetes/pki/${base}.key`, privateKeyToPem(ca.key), 0o600);
  }
}

async function kubeconfigFile(ctx: Ctx, file: string, server: string, commonName: string, organizations: string[] = []): Promise<void> {
  const { certPem, keyPem } = await leaf(ctx, { commonName, organizations, extKeyUsages: ['clientAuth'] }, ctx.cas.ca);
  const text = renderKubeconfig({
    clusterName: 'kubernetes',
    server,
    caPem: certificateToPem(ctx.cas.ca.cert),
    userName: commonName,
    certPem,
    keyPem,
  });
  write(ctx.root, `/etc/kubernetes/${file}`, text, 0o600);
}

/** The kubelet's client identity: embedded in kubelet.conf (≤ 1.17) or the rotated PEM behind a symlink. */
async function kubeletIdentity(ctx: Ctx, options: NodeOptions, server: string): Promise<void> {
  const commonName = `system:node:${options.nodeName}`;
  const caPem = certificateToPem(ctx.cas.ca.cert);
  if (options.flavour === '1.11') {
    await kubeconfigFile(ctx, 'kubelet.conf', server, commonName, ['system:nodes']);
    return;
  }
  const { certPem, keyPem } = await leaf(ctx, { commonName, organizations: ['system:nodes'], extKeyUsages: ['clientAuth'] }, ctx.cas.ca);
  const stamp = ctx.notBefore
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/[T:]/g, '-');
  write(ctx.root, `/var/lib/kubelet/pki/kubelet-client-${stamp}.pem`, certPem + keyPem, 0o600);
  symlinkSync(`/var/lib/kubelet/pki/kubelet-client-${stamp}.pem`, join(ctx.root, '/var/lib/kubelet/pki/kubelet-client-current.pem'));
  const pem = '/var/lib/kubelet/pki/kubelet-client-current.pem';
  write(
    ctx.root,
    '/etc/kubernetes/kubelet.conf',
    renderKubeconfig({ clusterName: 'kubernetes', server, caPem, userName: 'default-auth', certFile: pem, keyFile: pem }),
    0o600,
  );
}

/**
 * What the kubelet writes at first start without serverTLSBootstrap (client-go's GenerateSelfSignedCertKey): a
 * throwaway CA "<host>-ca@<unix>" signs the serving certificate "<host>@<unix>" (RSA-2048, SAN the host name, one year
 * from an hour before), both in kubelet.crt (leaf first), the leaf's key in kubelet.key; the CA key is discarded.
 */
async function kubeletServing(ctx: Ctx, options: NodeOptions): Promise<void> {
  const [key, caKey] = await Promise.all([generatePrivateKey('RSA-2048'), generatePrivateKey('RSA-2048')]);
  const notBefore = new Date(ctx.notBefore.getTime() - 3600_000);
  const { leaf, ca } = await issueWithThrowawayCa({
    host: options.nodeName,
    unixTime: Math.floor(ctx.notBefore.getTime() / 1000),
    key,
    caKey,
    extensions: leafExtensions({ commonName: options.nodeName, dnsNames: [options.nodeName], extKeyUsages: ['serverAuth'] }),
    notBefore,
    notAfter: new Date(ctx.notAfter.getTime() - 3600_000),
  });
  write(ctx.root, '/var/lib/kubelet/pki/kubelet.crt', certificateToPem(leaf) + certificateToPem(ca), 0o644);
  write(ctx.root, '/var/lib/kubelet/pki/kubelet.key', privateKeyToPem(key), 0o600);
  // (lab nodes share one network namespace: their kubelet's /healthz binds to the node's own address)
  write(ctx.root, '/var/lib/kubelet/config.yaml', kubeletConfig(options.localAddress ?? '127.0.0.1'), 0o644);
}

/** /var/lib/kubelet/config.yaml as kubeadm's kubelet phase writes it (defaulted KubeletConfiguration, keys sorted). */
function kubeletConfig(healthzAddress: string): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
  webhook:
    cacheAuthorizedTTL: 0s
    cacheUnauthorizedTTL: 0s
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
containerRuntimeEndpoint: ""
cpuManagerReconcilePeriod: 0s
evictionPressureTransitionPeriod: 0s
fileCheckFrequency: 0s
healthzBindAddress: ${healthzAddress}
healthzPort: 10248
httpCheckFrequency: 0s
imageMaximumGCAge: 0s
imageMinimumGCAge: 0s
kind: KubeletConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: "0"
  verbosity: 0
memorySwap: {}
nodeStatusReportFrequency: 0s
nodeStatusUpdateFrequency: 0s
resolvConf: /run/systemd/resolve/resolv.conf
rotateCertificates: true
runtimeRequestTimeout: 0s
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
staticPodPath: /etc/kubernetes/manifests
streamingConnectionIdleTimeout: 0s
syncFrequency: 0s
volumeStatsAggPeriod: 0s
`;
}

export async function buildControlPlaneNode(root: string, cas: LabCas, options: NodeOptions): Promise<void> {
  const flavour = options.flavour ?? '1.29';
  const notBefore = options.leafNotBefore ?? new Date(Date.now() - 5 * 60_000);
  const ctx: Ctx = { root, cas, notBefore, notAfter: options.leafNotAfter ?? new Date(notBefore.getTime() + 365 * DAY) };
  const endpoint = options.controlPlaneEndpoint ?? `${options.address}:6443`;
  const endpointHost = endpoint.replace(/:\d+$/, '');
  const isIp = (s: string) => /^[\d.]+$/.test(s) || s.includes(':');
  const admins = flavour === '1.29' ? 'kubeadm:cluster-admins' : 'system:masters';
  const legacyO = flavour === '1.11' ? ['system:masters'] : [];
  const kubespray = options.kubesprayEtcd;
  const stacked = !kubespray && (options.stackedEtcd ?? true);
  const sans = [...(options.certSans ?? []), endpointHost];
  const apiDns = [
    options.nodeName,
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    'kubernetes.default.svc.cluster.local',
    ...sans.filter((s) => !isIp(s)),
  ];
  const apiIps = ['10.96.0.1', options.address, ...sans.filter(isIp)];
  writeCas(ctx, !kubespray);
  const work: Promise<void>[] = [
    pairFile(
      ctx,
      'apiserver',
      { commonName: 'kube-apiserver', dnsNames: [...new Set(apiDns)], ipAddresses: [...new Set(apiIps)], extKeyUsages: ['serverAuth'] },
      cas.ca,
    ),
    pairFile(
      ctx,
      'apiserver-kubelet-client',
      { commonName: 'kube-apiserver-kubelet-client', organizations: [admins], extKeyUsages: ['clientAuth'] },
      cas.ca,
    ),
    pairFile(ctx, 'front-proxy-client', { commonName: 'front-proxy-client', extKeyUsages: ['clientAuth'] }, cas.frontProxyCa),
    kubeconfigFile(ctx, 'admin.conf', `https://${endpoint}`, 'kubernetes-admin', [admins]),
    kubeconfigFile(ctx, 'controller-manager.conf', `https://${options.address}:6443`, 'system:kube-controller-manager'),
    kubeconfigFile(ctx, 'scheduler.conf', `https://${options.address}:6443`, 'system:kube-scheduler'),
    kubeletIdentity(ctx, options, `https://${endpoint}`),
    kubeletServing(ctx, options),
  ];
  if (flavour === '1.29' && (options.initNode ?? true)) {
    work.push(kubeconfigFile(ctx, 'super-admin.conf', `https://${endpoint}`, 'kubernetes-super-admin', ['system:masters']));
  }
  if (stacked) work.push(...stackedEtcdFiles(ctx, options, legacyO));
  if (kubespray) work.push(writeKubesprayEtcd(root, cas, { ...kubespray, notBefore, notAfter: ctx.notAfter }));
  await Promise.all(work);
  await serviceAccountKeys(ctx);
  for (const [file, text] of Object.entries(
    renderManifests({
      nodeName: options.nodeName,
      address: options.address,
      stackedEtcd: stacked,
      initialCluster: options.initialCluster,
      localAddress: options.localAddress,
      etcdClient: kubespray && kubesprayEtcdClient(kubespray.self, kubespray.members),
    }),
  )) {
    write(root, `/etc/kubernetes/manifests/${file}`, text, 0o600);
  }
}

/** What a stacked etcd member adds: its serving and peer certificates, and the clients of etcd. */
function stackedEtcdFiles(ctx: Ctx, options: NodeOptions, legacyO: string[]): Promise<void>[] {
  const etcdCa = ctx.cas.etcdCa;
  const etcdSans = { dnsNames: [options.nodeName, 'localhost'], ipAddresses: [options.address, '127.0.0.1', '::1'] };
  return [
    pairFile(ctx, 'etcd/server', { commonName: options.nodeName, ...etcdSans, extKeyUsages: ['serverAuth', 'clientAuth'] }, etcdCa),
    pairFile(ctx, 'etcd/peer', { commonName: options.nodeName, ...etcdSans, extKeyUsages: ['serverAuth', 'clientAuth'] }, etcdCa),
    pairFile(
      ctx,
      'etcd/healthcheck-client',
      { commonName: 'kube-etcd-healthcheck-client', organizations: legacyO, extKeyUsages: ['clientAuth'] },
      etcdCa,
    ),
    pairFile(
      ctx,
      'apiserver-etcd-client',
      { commonName: 'kube-apiserver-etcd-client', organizations: legacyO, extKeyUsages: ['clientAuth'] },
      etcdCa,
    ),
  ];
}

export async function buildWorkerNode(root: string, cas: LabCas, options: NodeOptions): Promise<void> {
  const notBefore = options.leafNotBefore ?? new Date(Date.now() - 5 * 60_000);
  const ctx: Ctx = { root, cas, notBefore, notAfter: options.leafNotAfter ?? new Date(notBefore.getTime() + 365 * DAY) };
  write(root, '/etc/kubernetes/pki/ca.crt', certificateToPem(cas.ca.cert), 0o644);
  await kubeletIdentity(ctx, options, `https://${options.controlPlaneEndpoint ?? '127.0.0.11:6443'}`);
  await kubeletServing(ctx, options);
  mkdirSync(join(root, '/etc/kubernetes/manifests'), { recursive: true });
}

async function serviceAccountKeys(ctx: Ctx): Promise<void> {
  // (one pair for the whole cluster, as kubeadm copies it to every control-plane node; a node built alone gets its own)
  const key: KeyObject = ctx.cas.serviceAccountKey ?? (await generatePrivateKey(ctx.cas.keyAlgorithm));
  write(ctx.root, '/etc/kubernetes/pki/sa.key', privateKeyToPem(key), 0o600);
  write(ctx.root, '/etc/kubernetes/pki/sa.pub', toPem('PUBLIC KEY', createPublicKey(key).export({ format: 'der', type: 'spki' })), 0o600);
}
