// The kubeadm-config ConfigMap (kube-system): the ClusterConfiguration kubeadm uploaded at init and reads again at
// every `kubeadm upgrade` and join. Names added to a certificate are recorded in it, or the next upgrade drops them.
import type { ClusterConfigEdit } from '../kubeadm/cluster-config.js';
import { ApiAccess, apiGet, apiRequest } from './client.js';

const PATH = '/api/v1/namespaces/kube-system/configmaps/kubeadm-config';

/** Applies the edits to the ClusterConfiguration (comments and order kept), against the version read; what was done. */
export async function editKubeadmConfig(api: ApiAccess, edits: ClusterConfigEdit[]): Promise<string> {
  const field = `${edits.map((e) => e.field).join(', ')} in kube-system/kubeadm-config`;
  for (let attempt = 0; attempt < 3; attempt++) {
    const got = await apiGet(api, PATH, 10_000);
    if (got.status === 404) return 'no kubeadm-config ConfigMap in kube-system (not a kubeadm cluster): nothing recorded there';
    if (got.status !== 200) throw new Error(`GET ${PATH}: HTTP ${got.status}: ${got.body.slice(0, 200)}`);
    const cm = got.json as { data?: Record<string, string>; metadata?: Record<string, unknown> };
    const text = cm.data?.ClusterConfiguration;
    if (text === undefined) return 'kube-system/kubeadm-config holds no ClusterConfiguration: nothing recorded there';
    const edited = edits.reduce((t, e) => e.apply(t) ?? t, text);
    if (edited === text) return `${field}: already as wanted (or not a field of this configuration's version)`;
    const put = await apiRequest(api, 'PUT', PATH, { ...cm, data: { ...cm.data, ClusterConfiguration: edited } }, 10_000);
    if (put.status === 200) return `recorded in ${field}`;
    if (put.status !== 409) throw new Error(`PUT ${PATH}: HTTP ${put.status}: ${put.body.slice(0, 200)}`);
    // changed meanwhile by somebody else: read it again and apply the edits to what is there now
  }
  throw new Error(`${PATH} kept changing under three attempts to update it: record ${field} by hand`);
}
