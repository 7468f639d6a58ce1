// Node objects of the size and shape a real kube-apiserver returns (a real one is 10-30 KB: status.images with
// digests, node-problem-detector's conditions, allocatable and capacity, daemonEndpoints, nodeInfo, and the
// managedFields the server keeps for every writer), so that clients reading them are tested against what they meet.

export interface NodeShape {
  name: string;
  address: string;
  role: 'control-plane' | 'worker';
  kubeletVersion: string;
  /** Ready condition: status and heartbeat (ISO). */
  ready: { status: 'True' | 'False' | 'Unknown'; heartbeat: string };
}

const IMAGES = [
  'registry.k8s.io/etcd:3.5.15-0',
  'registry.k8s.io/kube-apiserver:v1.29.0',
  'registry.k8s.io/kube-controller-manager:v1.29.0',
  'registry.k8s.io/kube-scheduler:v1.29.0',
  'registry.k8s.io/kube-proxy:v1.29.0',
  'registry.k8s.io/coredns/coredns:v1.11.1',
  'registry.k8s.io/pause:3.9',
  'docker.io/calico/node:v3.27.0',
  'docker.io/calico/cni:v3.27.0',
  'docker.io/calico/kube-controllers:v3.27.0',
  'registry.k8s.io/metrics-server/metrics-server:v0.7.0',
  'quay.io/prometheus/node-exporter:v1.7.0',
  'registry.k8s.io/ingress-nginx/controller:v1.9.5',
  'registry.k8s.io/ingress-nginx/kube-webhook-certgen:v20231011-8b53cabe0',
  'quay.io/jetstack/cert-manager-controller:v1.13.3',
  'quay.io/jetstack/cert-manager-webhook:v1.13.3',
  'quay.io/jetstack/cert-manager-cainjector:v1.13.3',
  'docker.io/library/nginx:1.25.3',
  'docker.io/library/busybox:1.36.1',
  'registry.k8s.io/node-problem-detector/node-problem-detector:v0.8.14',
  'quay.io/cilium/cilium:v1.14.5',
  'quay.io/cilium/operator-generic:v1.14.5',
  'docker.io/grafana/promtail:2.9.3',
  'docker.io/fluent/fluent-bit:2.2.0',
  'registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.9.2',
  'registry.k8s.io/sig-storage/livenessprobe:v2.11.0',
  'registry.k8s.io/sig-storage/csi-provisioner:v3.6.2',
  'registry.k8s.io/sig-storage/csi-attacher:v4.4.2',
  'registry.k8s.io/sig-storage/csi-resizer:v1.9.2',
  'registry.k8s.io/sig-storage/csi-snapshotter:v6.3.2',
];

/** A stable pseudo-digest per image (the shape of a sha256 digest, not a real one). */
function digest(seed: string): string {
  let h = 2166136261;
  let out = '';
  for (let i = 0; out.length < 64; i++) {
    h = Math.imul(h ^ seed.charCodeAt(i % seed.length) ^ i, 16777619) >>> 0;
    out += h.toString(16).padStart(8, '0');
  }
  return out.slice(0, 64);
}

const PROBLEM_CONDITIONS: [string, string, string][] = [
  ['KernelDeadlock', 'KernelHasNoDeadlock', 'kernel has no deadlock'],
  ['ReadonlyFilesystem', 'FilesystemIsNotReadOnly', 'Filesystem is not read-only'],
  ['FrequentKubeletRestart', 'NoFrequentKubeletRestart', 'kubelet is functioning properly'],
  ['FrequentContainerdRestart', 'NoFrequentContainerdRestart', 'containerd is functioning properly'],
  ['FrequentUnregisterNetDevice', 'NoFrequentUnregisterNetDevice', 'node is functioning properly'],
  ['CorruptDockerOverlay2', 'NoCorruptDockerOverlay2', 'docker overlay2 is functioning properly'],
  ['NetworkUnavailable', 'CalicoIsUp', 'Calico is running on this node'],
  ['MemoryPressure', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
  ['DiskPressure', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
  ['PIDPressure', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
];

/** The Node a kubelet posts (status, labels, annotations), before the server adds its metadata. */
export function realisticNode(shape: NodeShape): Record<string, any> {
  const since = '2025-11-20T08:00:00Z';
  const labels: Record<string, string> = {
    'beta.kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'kubernetes.io/hostname': shape.name,
    'kubernetes.io/os': 'linux',
    'topology.kubernetes.io/zone': 'lab-zone-a',
  };
  if (shape.role === 'control-plane') {
    labels['node-role.kubernetes.io/control-plane'] = '';
    labels['node.kubernetes.io/exclude-from-external-load-balancers'] = '';
  }
  const conditions = [
    ...PROBLEM_CONDITIONS.map(([type, reason, message]) => ({
      type,
      status: 'False',
      reason,
      message,
      lastHeartbeatTime: shape.ready.heartbeat,
      lastTransitionTime: since,
    })),
    {
      type: 'Ready',
      status: shape.ready.status,
      reason: shape.ready.status === 'True' ? 'KubeletReady' : 'KubeletNotReady',
      message: shape.ready.status === 'True' ? 'kubelet is posting ready status' : 'container runtime network not ready',
      lastHeartbeatTime: shape.ready.heartbeat,
      lastTransitionTime: since,
    },
  ];
  const resources = {
    cpu: '4',
    'ephemeral-storage': '101430960Ki',
    'hugepages-1Gi': '0',
    'hugepages-2Mi': '0',
    memory: '16374960Ki',
    pods: '110',
  };
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: {
      name: shape.name,
      labels,
      annotations: {
        'kubeadm.alpha.kubernetes.io/cri-socket': 'unix:///var/run/containerd/containerd.sock',
        'node.alpha.kubernetes.io/ttl': '0',
        'projectcalico.org/IPv4Address': `${shape.address}/8`,
        'projectcalico.org/IPv4IPIPTunnelAddr': '192.0.2.1',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
      },
    },
    spec: {
      podCIDR: '192.0.2.0/24',
      podCIDRs: ['192.0.2.0/24'],
      ...(shape.role === 'control-plane' ? { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] } : {}),
    },
    status: {
      addresses: [
        { type: 'InternalIP', address: shape.address },
        { type: 'Hostname', address: shape.name },
      ],
      allocatable: { ...resources, cpu: '3800m', memory: '15748272Ki' },
      capacity: resources,
      conditions,
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      images: IMAGES.map((image, i) => {
        const repo = image.split(':')[0];
        return { names: [`${repo}@sha256:${digest(image)}`, image], sizeBytes: 10_000_000 + i * 1_234_567 };
      }),
      nodeInfo: {
        architecture: 'amd64',
        bootID: `${digest(`boot-${shape.name}`).slice(0, 8)}-1c2d-4e5f-8a9b-${digest(shape.name).slice(0, 12)}`,
        containerRuntimeVersion: 'containerd://1.7.11',
        kernelVersion: '6.1.0-17-amd64',
        kubeProxyVersion: shape.kubeletVersion,
        kubeletVersion: shape.kubeletVersion,
        machineID: digest(`machine-${shape.name}`).slice(0, 32),
        operatingSystem: 'linux',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        systemUUID: `${digest(`uuid-${shape.name}`).slice(0, 8)}-0000-4000-8000-${digest(`uuid2-${shape.name}`).slice(0, 12)}`,
      },
    },
  };
}

/** The fields an object sets, in managedFields' fieldsV1 form (list items keyed by type, name or address). */
function fieldSet(value: any): any {
  if (Array.isArray(value)) {
    const set: Record<string, any> = {};
    for (const item of value) {
      if (item && typeof item === 'object') {
        const key = ['type', 'name', 'key', 'address'].find((k) => typeof item[k] === 'string');
        set[key ? `k:${JSON.stringify({ [key]: item[key] })}` : `v:${JSON.stringify(item)}`] = { '.': {}, ...fieldSet(item) };
      } else set[`v:${JSON.stringify(item)}`] = {};
    }
    return set;
  }
  if (value && typeof value === 'object') {
    const set: Record<string, any> = {};
    for (const [k, v] of Object.entries(value)) set[`f:${k}`] = v && typeof v === 'object' ? fieldSet(v) : {};
    return set;
  }
  return {};
}

/** What kube-apiserver adds when it stores an object: uid, resourceVersion, timestamps, managedFields per writer. */
export function asStored(node: Record<string, any>, resourceVersion: string): Record<string, any> {
  const { status, metadata, spec } = node;
  const time = status?.conditions?.find((c: any) => c.type === 'Ready')?.lastHeartbeatTime ?? new Date().toISOString();
  return {
    ...node,
    metadata: {
      ...metadata,
      uid: `${digest(metadata.name).slice(0, 8)}-4b7c-4d2e-9f10-${digest(`${metadata.name}-uid`).slice(0, 12)}`,
      resourceVersion,
      creationTimestamp: '2025-11-20T08:00:00Z',
      managedFields: [
        {
          manager: 'kubelet',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2025-11-20T08:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:metadata': fieldSet({ annotations: metadata.annotations, labels: metadata.labels }) },
        },
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2025-11-20T08:00:10Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:spec': fieldSet(spec ?? {}) },
        },
        {
          manager: 'calico-node',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2025-11-20T08:01:00Z',
          fieldsType: 'FieldsV1',
          subresource: 'status',
          fieldsV1: { 'f:status': fieldSet({ conditions: [{ type: 'NetworkUnavailable' }] }) },
        },
        {
          manager: 'kubelet',
          operation: 'Update',
          apiVersion: 'v1',
          time,
          fieldsType: 'FieldsV1',
          subresource: 'status',
          fieldsV1: { 'f:status': fieldSet(status ?? {}) },
        },
      ],
    },
  };
}
