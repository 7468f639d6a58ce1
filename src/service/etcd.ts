// etcd's own view of the cluster, through its JSON gateway with a node's healthcheck-client certificate: the member
// list, each member's status (leader, raft index) and health. What `etcdctl endpoint health --cluster` and
// `endpoint status` show, for the rollout's gates and its quorum check.
import type { Host } from '../hosts/host.js';
import { describeNetworkError, Dial, httpRequest } from '../api/http.js';
import type { NodeServices } from './health.js';
import { etcdClientFiles, etcdClientUrl, etcdFlags } from './etcd-service.js';

export interface EtcdCredentials {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** Connections from the node (over SSH): member URLs on the nodes' addresses are reached as the nodes reach them. */
  via?: Dial;
}

export interface EtcdMember {
  id: string;
  name: string;
  clientUrls: string[];
}

export interface EtcdMemberState {
  member: EtcdMember;
  healthy: boolean;
  leader?: string;
  raftIndex?: number;
  detail: string;
}

/** The endpoint and the client credentials of the etcd on this node (stacked etcd, or etcd as a service), if any. */
export async function etcdAccess(host: Host, services: NodeServices): Promise<{ endpoint: string; creds: EtcdCredentials } | undefined> {
  const flags = etcdFlags(services);
  const files = await etcdClientFiles(host, services);
  if (!flags || !files) return undefined;
  const endpoint = etcdClientUrl(flags);
  const [ca, cert, key] = await Promise.all([files.ca, files.cert, files.key].map((p) => host.readFile(p)));
  return { endpoint, creds: { ca, cert, key, via: services.dial } };
}

async function post(endpoint: string, path: string, creds: EtcdCredentials, timeoutMs: number): Promise<Record<string, unknown>> {
  const res = await httpRequest('POST', `${endpoint}${path}`, { ...creds, body: {}, timeoutMs });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body.trim().slice(0, 200)}`);
  return JSON.parse(res.body);
}

export async function memberList(endpoint: string, creds: EtcdCredentials, timeoutMs = 3000): Promise<EtcdMember[]> {
  const body = await post(endpoint, '/v3/cluster/member/list', creds, timeoutMs);
  return ((body.members ?? []) as { ID: string; name?: string; clientURLs?: string[] }[]).map((m) => ({
    id: String(m.ID),
    name: m.name ?? '',
    clientUrls: m.clientURLs ?? [],
  }));
}

/** Health and raft position of every member the cluster lists (as `endpoint status --cluster`). */
export async function clusterState(endpoint: string, creds: EtcdCredentials, timeoutMs = 3000): Promise<EtcdMemberState[]> {
  const members = await memberList(endpoint, creds, timeoutMs);
  return Promise.all(
    members.map(async (member): Promise<EtcdMemberState> => {
      const url = member.clientUrls[0];
      if (!url) return { member, healthy: false, detail: `member ${member.name || member.id} has not started (no client URL)` };
      try {
        const [health, status] = await Promise.all([
          httpRequest('GET', `${url.replace(/\/$/, '')}/health`, { ...creds, timeoutMs }),
          post(url.replace(/\/$/, ''), '/v3/maintenance/status', creds, timeoutMs),
        ]);
        const healthy = health.status === 200 && JSON.parse(health.body).health === 'true';
        return {
          member,
          healthy,
          leader: String(status.leader ?? ''),
          raftIndex: Number(status.raftIndex ?? 0),
          detail: healthy ? `${url}: healthy` : `${url}: ${health.body.trim().slice(0, 120)}`,
        };
      } catch (err) {
        return { member, healthy: false, detail: `${url}: ${describeNetworkError(err)}` };
      }
    }),
  );
}

/** Problems with the cluster as etcd sees it: unhealthy members, members that disagree on the leader or lag. */
export function etcdProblems(states: EtcdMemberState[], maxLag = 1000): string[] {
  const problems = states.filter((s) => !s.healthy).map((s) => `etcd member ${s.member.name || s.member.id}: ${s.detail}`);
  const healthy = states.filter((s) => s.healthy);
  const leaders = new Set(healthy.map((s) => s.leader));
  if (leaders.size > 1) problems.push(`etcd members disagree on the leader (${[...leaders].join(', ')})`);
  const top = Math.max(0, ...healthy.map((s) => s.raftIndex ?? 0));
  for (const s of healthy)
    if (top - (s.raftIndex ?? 0) > maxLag)
      problems.push(`etcd member ${s.member.name}: ${top - (s.raftIndex ?? 0)} raft entries behind (not in sync yet)`);
  return problems;
}

/** Members that may be down while the cluster keeps quorum: healthy − (n/2 + 1). */
export function spareMembers(states: EtcdMemberState[]): number {
  return states.filter((s) => s.healthy).length - (Math.floor(states.length / 2) + 1);
}
