// Is a node Ready, and has its kubelet talked to the API server since a moment (with its renewed certificate)?
// Asked with the cluster's admin credentials (an admin.conf read from a control-plane node, kept in memory).
import { parseKubeconfig } from '../kubeadm/kubeconfig.js';
import { describeNetworkError, httpRequest } from './http.js';

export interface ApiAccess {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** A bearer token (a pod's service account) instead of a client certificate. */
  token?: string;
}

export function apiAccessOf(adminConfText: string): ApiAccess {
  const id = parseKubeconfig(adminConfText);
  if (!id.server || !id.clientCertificateData || !id.clientKeyData)
    throw new Error('admin.conf has no server or embedded client credentials');
  return { server: id.server.replace(/\/$/, ''), ca: id.certificateAuthorityData, cert: id.clientCertificateData, key: id.clientKeyData };
}

export function apiGet(
  api: ApiAccess,
  path: string,
  timeoutMs = 5000,
): Promise<{ status: number; json?: Record<string, unknown>; body: string }> {
  return apiRequest(api, 'GET', path, undefined, timeoutMs);
}

export async function apiRequest(
  api: ApiAccess,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  body?: unknown,
  timeoutMs = 5000,
): Promise<{ status: number; json?: Record<string, unknown>; body: string }> {
  const res = await httpRequest(method, `${api.server}${path}`, {
    ca: api.ca,
    cert: api.cert,
    key: api.key,
    headers: api.token ? { authorization: `Bearer ${api.token}` } : undefined,
    body,
    timeoutMs,
  });
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(res.body);
  } catch {
    // an error page may be text; a success that is not JSON is never read as "nothing"
    if (res.status >= 200 && res.status < 300)
      throw new Error(
        `${method} ${api.server}${path}: HTTP ${res.status} but not JSON (${res.body.length} bytes: ${res.body.slice(0, 120)})`,
      );
    json = undefined;
  }
  return { status: res.status, json, body: res.body };
}

interface Condition {
  type: string;
  status: string;
  lastHeartbeatTime?: string;
}

/** One look: Ready, and the kubelet's last sign of life (its Lease renewal, else the Ready heartbeat). */
export async function nodeReady(api: ApiAccess, node: string): Promise<{ ready: boolean; lastSeen?: Date; detail: string }> {
  const res = await apiGet(api, `/api/v1/nodes/${encodeURIComponent(node)}`);
  if (res.status !== 200) return { ready: false, detail: `GET node ${node}: HTTP ${res.status}` };
  const conditions = ((res.json?.status as { conditions?: Condition[] })?.conditions ?? []) as Condition[];
  const ready = conditions.find((c) => c.type === 'Ready');
  // kubelets since 1.17 renew a Lease every 10 s and post node status only when it changes or every 5 minutes
  const lease = await apiGet(api, `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${encodeURIComponent(node)}`).catch(
    () => undefined,
  );
  const renewTime = lease?.status === 200 ? (lease.json?.spec as { renewTime?: string })?.renewTime : undefined;
  const seen = [renewTime, ready?.lastHeartbeatTime].filter((t): t is string => Boolean(t)).map((t) => new Date(t));
  const lastSeen = seen.length ? new Date(Math.max(...seen.map((d) => d.getTime()))) : undefined;
  return {
    ready: ready?.status === 'True',
    lastSeen,
    detail: `Ready=${ready?.status ?? 'unknown'}${lastSeen ? `, kubelet last seen ${lastSeen.toISOString()}` : ''}`,
  };
}

/** Waits until the node is Ready and its kubelet was seen after `since` (so with the renewed certificate). */
export async function waitNodeReady(
  api: ApiAccess,
  node: string,
  since: Date,
  timeoutMs: number,
): Promise<{ ok: boolean; detail: string }> {
  const end = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const r = await nodeReady(api, node);
      last = r.detail;
      // API timestamps have whole seconds
      if (r.ready && r.lastSeen && r.lastSeen.getTime() >= since.getTime() - 1000)
        return { ok: true, detail: `Ready; ${r.detail.replace(/^Ready=True, /, '')}` };
    } catch (err) {
      last = `${api.server}: ${describeNetworkError(err)}`;
    }
    if (Date.now() > end)
      return { ok: false, detail: `not Ready with the renewed certificate after ${Math.round(timeoutMs / 1000)} s (${last})` };
    await new Promise((r) => setTimeout(r, 1000));
  }
}
