// Does every running kube-apiserver verify tokens with a service-account key? kube-apiserver reads
// --service-account-key-file only at start, so sa.pub on disk says nothing about a server not restarted since it was
// written. What it verifies with is what it publishes at /openid/v1/jwks (kube-apiserver 1.18+, served when
// --service-account-issuer is set, as kubeadm sets it since 1.20): asked of each node's own API server with that
// node's admin.conf.
import { posix } from 'node:path';
import { httpGet } from '../api/http.js';
import { apiAccessOf } from '../api/client.js';
import { DEFAULT_KUBECONFIG_DIR } from '../kubeadm/catalog.js';
import { readServices } from '../service/health.js';
import { servedEndpoints } from '../service/served.js';
import type { ClusterMember } from './operation.js';

export interface KeyTrust {
  /** Nodes whose API server does not publish the key: one line each, with what to do. */
  problems: string[];
  /** Nodes whose API server could not be asked (no JWKS endpoint, no admin.conf): the gate cannot tell. */
  unseen: string[];
}

/** The key IDs each node's running kube-apiserver verifies tokens with. */
async function publishedKeyIds(m: ClusterMember, kubeconfigDir?: string): Promise<string[]> {
  const services = await readServices(m.host, kubeconfigDir);
  const [endpoint] = await servedEndpoints(m.host, services, 'kube-apiserver');
  if (!endpoint) throw new Error('no kube-apiserver static pod');
  const admin = apiAccessOf((await m.host.readFile(posix.join(kubeconfigDir ?? DEFAULT_KUBECONFIG_DIR, 'admin.conf'))).toString());
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  const res = await httpGet(`https://${host}:${endpoint.port}/openid/v1/jwks`, {
    ca: admin.ca,
    cert: admin.cert,
    key: admin.key,
    timeoutMs: 5000,
    via: services.dial,
  });
  if (res.status !== 200) throw new Error(`/openid/v1/jwks answered HTTP ${res.status}`);
  const keys = (JSON.parse(res.body) as { keys?: { kid?: string }[] }).keys ?? [];
  return keys.map((k) => String(k.kid));
}

/** Which running API servers do not verify tokens signed by `keyId` (what = "the new key" / "the key sa.key holds"). */
export async function apiServerKeyTrust(members: ClusterMember[], keyId: string, what: string, kubeconfigDir?: string): Promise<KeyTrust> {
  const out: KeyTrust = { problems: [], unseen: [] };
  for (const m of members) {
    try {
      const ids = await publishedKeyIds(m, kubeconfigDir);
      if (!ids.includes(keyId))
        out.problems.push(
          `${m.node.name}: the running kube-apiserver does not verify tokens signed by ${what} (it publishes ${ids.length} key(s), not ${keyId}): it has not been restarted since sa.pub was written; restart it (kpki restart kube-apiserver on the node)`,
        );
    } catch (err) {
      out.unseen.push(`${m.node.name}: ${(err as Error).message}`);
    }
  }
  return out;
}
