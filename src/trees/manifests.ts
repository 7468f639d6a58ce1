// Static pod manifests with kubeadm's flags and probes, for a lab node.

export interface ManifestOptions {
  nodeName: string;
  address: string;
  stackedEtcd: boolean;
  /** --initial-cluster of etcd; defaults to this node alone. */
  initialCluster?: string;
  /**
   * Where kubeadm binds node-local endpoints (127.0.0.1). Lab nodes share one network namespace, so they bind those
   * endpoints (etcd's local client URL and metrics, controller-manager, scheduler, probes) to their own address.
   */
  localAddress?: string;
  /** kube-apiserver's etcd client files and servers when etcd is not kubeadm's (Kubespray's etcd service). */
  etcdClient?: { ca: string; cert: string; key: string; servers: string };
}

const PKI = '/etc/kubernetes/pki';

function pod(name: string, image: string, command: string[], probe: { host: string; port: number; path: string; scheme: string }): string {
  const flags = command.map((c) => `    - ${c}`).join('\n');
  return `apiVersion: v1
kind: Pod
metadata:
  labels:
    component: ${name}
    tier: control-plane
  name: ${name}
  namespace: kube-system
spec:
  containers:
  - command:
${flags}
    image: ${image}
    livenessProbe:
      failureThreshold: 8
      httpGet:
        host: ${probe.host}
        path: ${probe.path}
        port: ${probe.port}
        scheme: ${probe.scheme}
      initialDelaySeconds: 10
      periodSeconds: 10
      timeoutSeconds: 15
    name: ${name}
  hostNetwork: true
  priorityClassName: system-node-critical
`;
}

/** The addresses the manifests name: this node's, the local one the components bind to, etcd's client URLs. */
function addresses(o: ManifestOptions) {
  const local = o.localAddress ?? '127.0.0.1';
  const clientUrls = [...new Set([`https://${local}:2379`, `https://${o.address}:2379`])].join(',');
  const etcdServers = o.stackedEtcd ? `https://${o.address}:2379` : 'https://etcd.example.invalid:2379';
  return { local, clientUrls, etcdServers };
}

export function renderManifests(o: ManifestOptions): Record<string, string> {
  const files: Record<string, string> = {
    'kube-apiserver.yaml': apiserverManifest(o),
    'kube-controller-manager.yaml': controllerManagerManifest(o),
    'kube-scheduler.yaml': schedulerManifest(o),
  };
  if (o.stackedEtcd) files['etcd.yaml'] = etcdManifest(o);
  return files;
}

function apiserverManifest(o: ManifestOptions): string {
  const { etcdServers } = addresses(o);
  const etcd = o.etcdClient ?? {
    ca: `${PKI}/etcd/ca.crt`,
    cert: `${PKI}/apiserver-etcd-client.crt`,
    key: `${PKI}/apiserver-etcd-client.key`,
    servers: etcdServers,
  };
  return pod(
    'kube-apiserver',
    'registry.k8s.io/kube-apiserver:v1.29.0',
    [
      'kube-apiserver',
      `--advertise-address=${o.address}`,
      `--client-ca-file=${PKI}/ca.crt`,
      `--etcd-cafile=${etcd.ca}`,
      `--etcd-certfile=${etcd.cert}`,
      `--etcd-keyfile=${etcd.key}`,
      `--etcd-servers=${etcd.servers}`,
      `--kubelet-client-certificate=${PKI}/apiserver-kubelet-client.crt`,
      `--kubelet-client-key=${PKI}/apiserver-kubelet-client.key`,
      `--proxy-client-cert-file=${PKI}/front-proxy-client.crt`,
      `--proxy-client-key-file=${PKI}/front-proxy-client.key`,
      `--requestheader-client-ca-file=${PKI}/front-proxy-ca.crt`,
      '--secure-port=6443',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${PKI}/sa.pub`,
      `--service-account-signing-key-file=${PKI}/sa.key`,
      '--service-cluster-ip-range=10.96.0.0/12',
      `--tls-cert-file=${PKI}/apiserver.crt`,
      `--tls-private-key-file=${PKI}/apiserver.key`,
    ],
    { host: o.address, port: 6443, path: '/livez', scheme: 'HTTPS' },
  );
}

function controllerManagerManifest(o: ManifestOptions): string {
  const { local } = addresses(o);
  return pod(
    'kube-controller-manager',
    'registry.k8s.io/kube-controller-manager:v1.29.0',
    [
      'kube-controller-manager',
      `--bind-address=${local}`,
      `--cluster-signing-cert-file=${PKI}/ca.crt`,
      `--cluster-signing-key-file=${PKI}/ca.key`,
      '--kubeconfig=/etc/kubernetes/controller-manager.conf',
      `--root-ca-file=${PKI}/ca.crt`,
      `--service-account-private-key-file=${PKI}/sa.key`,
      '--use-service-account-credentials=true',
    ],
    { host: local, port: 10257, path: '/healthz', scheme: 'HTTPS' },
  );
}

function schedulerManifest(o: ManifestOptions): string {
  const { local } = addresses(o);
  return pod(
    'kube-scheduler',
    'registry.k8s.io/kube-scheduler:v1.29.0',
    ['kube-scheduler', `--bind-address=${local}`, '--kubeconfig=/etc/kubernetes/scheduler.conf', '--leader-elect=true'],
    { host: local, port: 10259, path: '/healthz', scheme: 'HTTPS' },
  );
}

function etcdManifest(o: ManifestOptions): string {
  const { local, clientUrls } = addresses(o);
  return pod(
    'etcd',
    'registry.k8s.io/etcd:3.5.10-0',
    [
      'etcd',
      `--advertise-client-urls=https://${o.address}:2379`,
      `--cert-file=${PKI}/etcd/server.crt`,
      '--client-cert-auth=true',
      '--data-dir=/var/lib/etcd',
      `--initial-advertise-peer-urls=https://${o.address}:2380`,
      `--initial-cluster=${o.initialCluster ?? `${o.nodeName}=https://${o.address}:2380`}`,
      `--key-file=${PKI}/etcd/server.key`,
      `--listen-client-urls=${clientUrls}`,
      `--listen-metrics-urls=http://${local}:2381`,
      `--listen-peer-urls=https://${o.address}:2380`,
      `--name=${o.nodeName}`,
      `--peer-cert-file=${PKI}/etcd/peer.crt`,
      '--peer-client-cert-auth=true',
      `--peer-key-file=${PKI}/etcd/peer.key`,
      `--peer-trusted-ca-file=${PKI}/etcd/ca.crt`,
      `--trusted-ca-file=${PKI}/etcd/ca.crt`,
    ],
    { host: local, port: 2381, path: '/health', scheme: 'HTTP' },
  );
}
