// The API objects a kubeadm cluster holds besides its nodes, written into etcd as kube-apiserver stores them:
// cluster-info in kube-public (kubeadm init's bootstrap-token phase: the CA and the endpoint, for join discovery),
// CoreDNS and kube-proxy pods with projected service-account token volumes (every pod trusts the cluster CA through
// kube-root-ca.crt), a validating webhook whose caBundle is the cluster CA (as operators configure it) and
// metrics-server's APIService (insecureSkipTLSVerify, its default). kpki ca plan counts them.
import { registryKey } from './standins/api-lists.js';

function tokenVolume(): unknown {
  return {
    name: `kube-api-access-${Math.random().toString(36).slice(2, 7)}`,
    projected: {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' }, path: 'namespace' }] } },
      ],
    },
  };
}

function pod(namespace: string, name: string, nodeName: string): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: {
      nodeName,
      serviceAccountName: name.split('-')[0],
      volumes: [tokenVolume()],
      containers: [{ name: name.split('-')[0], image: 'registry.k8s.io/pause:3.9' }],
    },
  };
}

/** etcd key → object. */
export function clusterObjects(o: { caPem: string; endpoint: string; nodes: string[] }): [string, unknown][] {
  const kubeconfig = [
    'apiVersion: v1',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${Buffer.from(o.caPem).toString('base64')}`,
    `    server: https://${o.endpoint}`,
    '  name: ""',
    'contexts: null',
    'current-context: ""',
    'kind: Config',
    'preferences: {}',
    'users: null',
    '',
  ].join('\n');
  const caBundle = Buffer.from(o.caPem).toString('base64');
  return [
    [
      '/registry/configmaps/kube-public/cluster-info',
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cluster-info', namespace: 'kube-public' }, data: { kubeconfig } },
    ],
    ...['coredns-76f75df574-2xkqv', 'coredns-76f75df574-9hwzt'].map((n, i): [string, unknown] => [
      registryKey('/api/v1/pods', n, 'kube-system'),
      pod('kube-system', n, o.nodes[i % o.nodes.length]),
    ]),
    ...o.nodes.map((node, i): [string, unknown] => [
      registryKey('/api/v1/pods', `kube-proxy-${i}x7k2`, 'kube-system'),
      pod('kube-system', `kube-proxy-${i}x7k2`, node),
    ]),
    [
      registryKey('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations', 'policy-webhook'),
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingWebhookConfiguration',
        metadata: { name: 'policy-webhook' },
        webhooks: [
          { name: 'validate.policy.example', clientConfig: { caBundle, service: { name: 'policy', namespace: 'policy', port: 443 } } },
        ],
      },
    ],
    [
      registryKey('/apis/apiregistration.k8s.io/v1/apiservices', 'v1beta1.metrics.k8s.io'),
      {
        apiVersion: 'apiregistration.k8s.io/v1',
        kind: 'APIService',
        metadata: { name: 'v1beta1.metrics.k8s.io' },
        spec: {
          group: 'metrics.k8s.io',
          version: 'v1beta1',
          insecureSkipTLSVerify: true,
          service: { name: 'metrics-server', namespace: 'kube-system' },
        },
      },
    ],
  ];
}
