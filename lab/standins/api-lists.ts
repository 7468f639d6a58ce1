// Cluster-wide lists of the API server stand-in (configmaps, pods, secrets, APIServices, webhook configurations),
// read from etcd under kube-apiserver's own keys, with the field selectors kpki uses (metadata.name=, type=). No
// pagination: every item comes in one page without a continue token, as a real server does for small lists.
import type { EtcdClient } from './etcd-client.js';

const LISTS: Record<string, { prefix: string; kind: string; apiVersion: string }> = {
  '/api/v1/configmaps': { prefix: '/registry/configmaps/', kind: 'ConfigMapList', apiVersion: 'v1' },
  '/api/v1/pods': { prefix: '/registry/pods/', kind: 'PodList', apiVersion: 'v1' },
  '/api/v1/secrets': { prefix: '/registry/secrets/', kind: 'SecretList', apiVersion: 'v1' },
  '/apis/apiregistration.k8s.io/v1/apiservices': {
    prefix: '/registry/apiregistration.k8s.io/apiservices/',
    kind: 'APIServiceList',
    apiVersion: 'apiregistration.k8s.io/v1',
  },
  '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations': {
    prefix: '/registry/validatingwebhookconfigurations/',
    kind: 'ValidatingWebhookConfigurationList',
    apiVersion: 'admissionregistration.k8s.io/v1',
  },
  '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations': {
    prefix: '/registry/mutatingwebhookconfigurations/',
    kind: 'MutatingWebhookConfigurationList',
    apiVersion: 'admissionregistration.k8s.io/v1',
  },
};

/** The etcd key of a cluster-scoped or namespaced object of one of the listed resources (the lab seeds with it). */
export function registryKey(list: keyof typeof LISTS | string, name: string, namespace?: string): string {
  return `${LISTS[list].prefix}${namespace ? `${namespace}/` : ''}${name}`;
}

function selected(item: any, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [field, value] = term.split('=');
    const actual =
      field === 'metadata.name'
        ? item.metadata?.name
        : field === 'metadata.namespace'
          ? item.metadata?.namespace
          : field === 'type'
            ? item.type
            : undefined;
    return actual === value;
  });
}

/** The list for a GET of a cluster-wide collection, or undefined when the path is none of them. */
export async function clusterList(etcd: EtcdClient, path: string, query: URLSearchParams): Promise<unknown | undefined> {
  const list = LISTS[path];
  if (!list) return undefined;
  const items = (await etcd.list(list.prefix)).map(([, v]) => JSON.parse(v)).filter((i) => selected(i, query.get('fieldSelector')));
  return { kind: list.kind, apiVersion: list.apiVersion, metadata: {}, items };
}
