// kube-public/cluster-info: the kubeconfig `kubeadm join` discovers the cluster from, its CA pinned by
// --discovery-token-ca-cert-hash (join accepts the CA when any of its certificates matches any pin). A rotation of the
// cluster CA republishes its certificate-authority-data: old + new at trust, the new alone at finish. Only that value
// changes; the controller-manager's bootstrap signer re-signs the kubeconfig (jws-kubeconfig-<token id>) by itself.
import { parseDocument } from 'yaml';
import { ApiAccess, apiGet, apiRequest } from './client.js';

const PATH = '/api/v1/namespaces/kube-public/configmaps/cluster-info';

/** What happened: updated, already so, or why not (absent, refused, not a kubeconfig). */
export async function publishClusterInfoCa(api: ApiAccess, caPem: string): Promise<'updated' | 'unchanged' | string> {
  const got = await apiGet(api, PATH, 10_000);
  if (got.status === 404) return 'absent (a cluster not made by kubeadm init, or deleted): nothing to update';
  if (got.status !== 200 || !got.json) return `not read: HTTP ${got.status}`;
  const cm = got.json as { data?: Record<string, string>; metadata?: Record<string, unknown> };
  const text = cm.data?.kubeconfig;
  if (!text) return 'holds no kubeconfig: not updated';
  const doc = parseDocument(text);
  const cluster = doc.getIn(['clusters', 0, 'cluster']);
  if (doc.errors.length || !cluster) return 'its kubeconfig has no cluster: not updated';
  const wanted = Buffer.from(caPem).toString('base64');
  if (doc.getIn(['clusters', 0, 'cluster', 'certificate-authority-data']) === wanted) return 'unchanged';
  doc.setIn(['clusters', 0, 'cluster', 'certificate-authority-data'], wanted);
  // (the resourceVersion read makes a concurrent change fail with 409 rather than be overwritten)
  const put = await apiRequest(api, 'PUT', PATH, { ...cm, data: { ...cm.data, kubeconfig: doc.toString() } }, 10_000);
  return put.status === 200 ? 'updated' : `not updated: HTTP ${put.status} ${put.body.slice(0, 200)}`;
}
