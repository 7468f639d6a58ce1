// Is a node Ready, and has its kubelet talked to the API server since a moment (with its renewed certificate)?
// Asked with the cluster's admin credentials (an admin.conf read from a control-plane node, kept in memory).
import { describeNetworkError } from './http.js';
import { ApiAccess, apiGet } from './client.js';

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
