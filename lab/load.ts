// Load generator, bounded by time and count, recording every attempt. Two kinds of clients run side by side:
// - "balanced": a client of the control-plane endpoint, as kubectl and every controller are: each request (a
//   ConfigMap created, then read, with admin.conf's credentials) goes through the lab's load balancer on a connection
//   of its own, and is tried again on a new connection, to a control-plane node that has not failed it, as many times as there
//   are control-plane nodes, 100 ms, then 200 ms apart: a client that retries another control-plane node; a request
//   fails only when every attempt failed;
// - "pinned": one client per control-plane node that only ever talks to that node's address (at a lower rate): etcd
//   writes with apiserver-etcd-client, API reads.
// Afterwards every acknowledged write is read back from etcd: nothing acknowledged may be lost.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connectAvoiding } from './balanced-connection.js';
import { etcdTls } from './health.js';
import https from 'node:https';
import { EtcdClient, EtcdTls } from './standins/etcd-client.js';
import { describeFailure, kubeRequest, KubeCredentials, loadKubeconfig } from './standins/kube-client.js';
import type { Lab } from './lab.js';

export interface LoadOptions {
  durationMs: number;
  /** Stop after this many balanced writes even if time is left. */
  maxOps?: number;
  /** Pause between two requests of the balanced (and in-cluster) client: 40 ms unless given. */
  intervalMs?: number;
  /**
   * Pause between two requests of a pinned client: 150 ms unless given. Pinned failures are reported, not what a
   * rolling change is judged by, and with three pinned clients at 40 ms the lab under load used 1.1 cores (etcd
   * commits every write on three members; 0.7 at 150 ms); at 150 ms a one-second restart still shows as ~6 failed requests. The
   * benchmarks pass 40 ms: the README's pinned counts were measured so.
   */
  pinnedIntervalMs?: number;
  /**
   * Also run an in-cluster client: a pod's service-account token (TokenRequest, renewed every refreshMs as the
   * kubelet renews projected tokens) on requests through the Service: a node that is down is skipped, but a 401 is a
   * failure (client-go does not retry it on another server).
   */
  serviceAccount?: { refreshMs: number };
  /**
   * Also run a client of the kubelets through kube-apiserver's node proxy (what `kubectl logs` and `exec` take), one
   * node after the other: kube-apiserver authenticates to each kubelet with apiserver-kubelet-client, which the kubelet
   * checks against its clientCAFile. A 401 from a kubelet is a trust failure; a kubelet that cannot be reached (it is
   * restarting) is counted apart.
   */
  kubeletProxy?: { nodes: string[] };
}

/** The benchmarks' sampling: pinned clients as often as the balanced one (the README's pinned counts). */
export const DENSE: Pick<LoadOptions, 'pinnedIntervalMs'> = { pinnedIntervalMs: 40 };

export interface Attempt {
  at: number;
  client: string;
  op: 'write' | 'read' | 'token';
  target: string;
  ok: boolean;
  error?: string;
}

export interface ClientCounts {
  ok: number;
  failed: number;
}

export interface LoadReport {
  durationMs: number;
  balanced: { writes: ClientCounts; reads: ClientCounts; longestGapMs: number };
  pinned: Record<string, ClientCounts & { longestGapMs: number }>;
  /** The in-cluster client (serviceAccount): requests with a service-account token, and how many got 401. */
  inCluster?: ClientCounts & { unauthorized: number; tokens: number };
  /** The kubelet client (kubeletProxy): requests answered 200, refused by a kubelet (401), or with no kubelet answer. */
  kubeletProxy?: { ok: number; unauthorized: number; otherErrors: number; unreachable: number };
  acknowledgedWrites: number;
  lostWrites: string[];
  failures: Attempt[];
}

const NAMESPACE = 'lab-load';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function longestGap(times: number[], start: number, end: number): number {
  const all = [start, ...times.sort((a, b) => a - b), end];
  return all.slice(1).reduce((max, t, i) => Math.max(max, t - all[i]), 0);
}

export class Load {
  private readonly attempts: Attempt[] = [];
  private readonly acked = new Map<string, string>();
  private etcd: Map<string, EtcdClient>;
  private tls: EtcdTls;
  private readonly tlsOf: () => EtcdTls;
  private api: KubeCredentials;
  private apiText: Buffer;
  private readonly adminKubeconfig: string;
  private readonly agents: Map<string, https.Agent>;
  private readonly targets: string[];
  /** The control-plane endpoint (the load balancer) the balanced client talks to. */
  private readonly endpoint: string;
  private stopped = false;
  private readonly started = Date.now();
  private finished?: Promise<void>;
  private seq = 0;
  private readonly run = Math.random().toString(36).slice(2, 8);

  private constructor(
    lab: Lab,
    private readonly options: LoadOptions,
  ) {
    const cp = lab.controlPlanes[0];
    this.tlsOf = () => etcdTls(cp, 'apiserver');
    this.tls = this.tlsOf();
    this.targets = lab.controlPlanes.map((n) => n.address);
    this.endpoint = lab.endpointUrl;
    this.etcd = this.etcdClients();
    this.adminKubeconfig = lab.adminKubeconfig;
    this.apiText = readFileSync(this.adminKubeconfig);
    this.api = loadKubeconfig(this.adminKubeconfig);
    this.agents = new Map(this.targets.map((a) => [a, new https.Agent({ keepAlive: true })]));
  }

  private etcdClients(): Map<string, EtcdClient> {
    return new Map(this.targets.map((a) => [a, new EtcdClient(`https://${a}:2379`, this.tls, 2000)]));
  }

  /**
   * The etcd client of the node it stands for (kube-apiserver's), with that node's files as they are now: a CA
   * rotation rewrites etcd/ca.crt and apiserver-etcd-client, and restarts kube-apiserver to load them.
   */
  private etcdFor(target: string): EtcdClient {
    const now = this.tlsOf();
    // (caught between the key's and the certificate's rename, the pair does not match yet: keep the old one)
    if (!new X509Certificate(now.cert).checkPrivateKey(createPrivateKey(now.key))) return this.etcd.get(target)!;
    if (!now.ca.equals(this.tls.ca) || !now.cert.equals(this.tls.cert) || !now.key.equals(this.tls.key)) {
      const old = this.etcd;
      this.tls = now;
      this.etcd = this.etcdClients();
      setTimeout(() => old.forEach((c) => c.close()), 5000).unref();
    }
    return this.etcd.get(target)!;
  }

  /**
   * The API credentials as admin.conf on the first control-plane node holds them now: a client whose kubeconfig is
   * kept up to date (kpki rewrites admin.conf on the nodes; a rotation of the cluster CA changes its CA data and its
   * client certificate). A client holding a copy from before a rotation fails at its finish, as it should.
   */
  private apiNow(): KubeCredentials {
    const text = readFileSync(this.adminKubeconfig);
    if (text.equals(this.apiText)) return this.api;
    try {
      const creds = loadKubeconfig(this.adminKubeconfig);
      if (creds.cert && creds.key && !new X509Certificate(creds.cert).checkPrivateKey(createPrivateKey(creds.key))) return this.api;
      this.api = creds;
      this.apiText = text;
    } catch {
      // caught mid-write by a tool that does not rename (not kpki): the next request reads it again
    }
    return this.api;
  }

  /** Starts the clients in the background; finish() stops them and reports. */
  static start(lab: Lab, options: LoadOptions): Load {
    const load = new Load(lab, options);
    const clients = [load.balancedLoop(), ...load.targets.map((t) => load.pinnedLoop(t))];
    if (options.serviceAccount) clients.push(load.inClusterLoop(options.serviceAccount.refreshMs));
    if (options.kubeletProxy) clients.push(load.kubeletLoop(options.kubeletProxy.nodes));
    load.finished = Promise.all(clients).then(() => undefined);
    return load;
  }

  private active(): boolean {
    return (
      !this.stopped &&
      Date.now() - this.started < this.options.durationMs &&
      (this.options.maxOps === undefined || this.seq < this.options.maxOps)
    );
  }

  private record(client: string, op: Attempt['op'], target: string, error?: string): boolean {
    this.attempts.push({ at: Date.now(), client, op, target, ok: error === undefined, error });
    return error === undefined;
  }

  private async write(client: string, target: string, name: string): Promise<boolean> {
    const value = JSON.stringify({
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { name, namespace: NAMESPACE },
      data: { writtenAt: new Date().toISOString() },
    });
    const key = `/registry/configmaps/${NAMESPACE}/${name}`;
    try {
      await this.etcdFor(target).put(key, value);
      this.acked.set(key, JSON.parse(value).data.writtenAt);
      return this.record(client, 'write', target);
    } catch (err) {
      return this.record(client, 'write', target, (err as Error).message);
    }
  }

  private async read(client: string, target: string, name: string): Promise<boolean> {
    try {
      const res = await kubeRequest(this.apiNow(), 'GET', `/api/v1/namespaces/${NAMESPACE}/configmaps/${name}`, {
        server: `https://${target}:6443`,
        timeoutMs: 2000,
        agent: this.agents.get(target),
      });
      return this.record(client, 'read', target, res.status === 200 ? undefined : describeFailure(res));
    } catch (err) {
      return this.record(client, 'read', target, (err as Error).message);
    }
  }

  /**
   * One logical request of the balanced client, through the load balancer: an attempt per control-plane node, each on
   * a new connection, and never again on a node that failed this request (connectAvoiding). A create answered 409 on a
   * retry was acknowledged by an earlier attempt.
   */
  private async balanced(op: 'write' | 'read', name: string): Promise<boolean> {
    const path = `/api/v1/namespaces/${NAMESPACE}/configmaps`;
    const writtenAt = new Date().toISOString();
    const failedOn = new Set<string>();
    for (let attempt = 0; attempt < this.targets.length; attempt++) {
      if (attempt > 0) await sleep(100 * attempt);
      const creds = this.apiNow();
      const connection = await connectAvoiding(this.endpoint, creds, this.targets, failedOn, 2000);
      let error = connection.error;
      try {
        if (connection.socket) {
          const options = { server: this.endpoint, timeoutMs: 2000, socket: connection.socket };
          const res =
            op === 'write'
              ? await kubeRequest(creds, 'POST', path, {
                  ...options,
                  body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NAMESPACE }, data: { writtenAt } },
                })
              : await kubeRequest(creds, 'GET', `${path}/${name}`, options);
          const ok = op === 'write' ? res.status === 201 || (res.status === 409 && attempt > 0) : res.status === 200;
          error = ok ? undefined : describeFailure(res);
        }
      } catch (err) {
        error = (err as Error).message;
      } finally {
        connection.socket?.destroy();
      }
      if (error !== undefined && connection.node) failedOn.add(connection.node);
      this.record('balanced', op, `load balancer → ${connection.node ?? '?'}`, error);
      if (error === undefined) {
        if (op === 'write') this.acked.set(`/registry/configmaps/${NAMESPACE}/${name}`, writtenAt);
        return true;
      }
    }
    this.record('balanced', op, '*', `no answer through the load balancer in ${this.targets.length} attempts`);
    return false;
  }

  private async balancedLoop(): Promise<void> {
    while (this.active()) {
      const n = this.seq++;
      const name = `b-${this.run}-${n}`;
      if (await this.balanced('write', name)) await this.balanced('read', name);
      await sleep(this.options.intervalMs ?? 40);
    }
  }

  private async pinnedLoop(target: string): Promise<void> {
    let n = 0;
    let lastOk: string | undefined;
    while (this.active()) {
      const name = `p-${this.run}-${target}-${n++}`;
      if (await this.write(`pinned ${target}`, target, name)) lastOk = name;
      if (lastOk) await this.read(`pinned ${target}`, target, lastOk);
      await sleep(this.options.pinnedIntervalMs ?? 150);
    }
  }

  /** Writes acknowledged so far (a test waits for writes after an event rather than sleeping). */
  get acknowledged(): number {
    return this.acked.size;
  }

  private tokens = 0;
  /** Service-account tokens the in-cluster client got so far (a test waits for fresh ones rather than sleeping). */
  get tokensFetched(): number {
    return this.tokens;
  }
  /** Logical requests of the in-cluster client: answered 200, or failed (401 counted apart), or every node down. */
  private readonly inCluster = { ok: 0, failed: 0, unauthorized: 0 };

  private inClusterCounts(): LoadReport['inCluster'] {
    return { ...this.inCluster, tokens: this.tokens };
  }

  /** A new token from the first node that answers (the kubelet asks its API server, through the load balancer). */
  private async requestToken(first: number): Promise<string | undefined> {
    for (let i = 0; i < this.targets.length; i++) {
      const target = this.targets[(first + i) % this.targets.length];
      try {
        const res = await kubeRequest(this.apiNow(), 'POST', `/api/v1/namespaces/${NAMESPACE}/serviceaccounts/default/token`, {
          server: `https://${target}:6443`,
          timeoutMs: 2000,
          body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
        });
        if (res.status === 201) {
          this.tokens++;
          return JSON.parse(res.body).status.token;
        }
        this.record('in-cluster', 'token', target, describeFailure(res));
      } catch (err) {
        this.record('in-cluster', 'token', target, (err as Error).message);
      }
    }
    return undefined;
  }

  private async inClusterLoop(refreshMs: number): Promise<void> {
    let token: string | undefined;
    let fetchedAt = 0;
    let n = 0;
    while (this.active()) {
      if (!token || Date.now() - fetchedAt >= refreshMs) {
        token = (await this.requestToken(n)) ?? token;
        fetchedAt = Date.now();
      }
      const start = n++;
      let outcome: number | undefined;
      for (let i = 0; i < this.targets.length && outcome === undefined; i++) {
        const target = this.targets[(start + i) % this.targets.length];
        let result: string | undefined;
        try {
          const res = await kubeRequest({ server: this.api.server, ca: this.apiNow().ca }, 'GET', '/api/v1/nodes', {
            server: `https://${target}:6443`,
            timeoutMs: 2000,
            headers: token ? { authorization: `Bearer ${token}` } : {},
          });
          result = res.status === 200 ? undefined : describeFailure(res);
          this.record('in-cluster', 'read', target, result);
          if (res.status !== 503) outcome = res.status; // answered (401 included): the Service does not retry elsewhere
        } catch (err) {
          this.record('in-cluster', 'read', target, (err as Error).message); // down: kube-proxy sends the next one elsewhere
        }
      }
      if (outcome === 200) this.inCluster.ok++;
      else this.inCluster.failed++;
      if (outcome === 401) this.inCluster.unauthorized++;
      await sleep(this.options.intervalMs ?? 40);
    }
  }

  private readonly kubelets = { ok: 0, unauthorized: 0, otherErrors: 0, unreachable: 0 };

  private async kubeletLoop(nodes: string[]): Promise<void> {
    let n = 0;
    while (this.active()) {
      const start = n++;
      const node = nodes[start % nodes.length];
      let outcome: keyof typeof this.kubelets = 'unreachable';
      for (let i = 0; i < this.targets.length && outcome === 'unreachable'; i++) {
        const target = this.targets[(start + i) % this.targets.length];
        try {
          const res = await kubeRequest(this.apiNow(), 'GET', `/api/v1/nodes/${node}/proxy/healthz`, {
            server: `https://${target}:6443`,
            timeoutMs: 3000,
          });
          this.record(`kubelet ${node}`, 'read', target, res.status === 200 ? undefined : describeFailure(res));
          if (res.status === 200) outcome = 'ok';
          else if (res.status === 401 && !res.body.includes('"kind":"Status"'))
            outcome = 'unauthorized'; // the kubelet's own 401
          else if (res.status !== 503) outcome = 'otherErrors'; // 503: that API server cannot serve it now, the next one
        } catch (err) {
          this.record(`kubelet ${node}`, 'read', target, (err as Error).message); // that API server is down: the next one
        }
      }
      this.kubelets[outcome]++;
      await sleep(this.options.intervalMs ?? 40);
    }
  }

  /** Runs for the whole duration (or maxOps), then reports. */
  static async run(lab: Lab, options: LoadOptions): Promise<LoadReport> {
    const load = Load.start(lab, options);
    await load.finished;
    return load.finish();
  }

  /** Stops the clients now (the duration and maxOps are upper bounds), reads back every acknowledged write, reports. */
  async finish(): Promise<LoadReport> {
    this.stopped = true;
    await this.finished;
    const end = Date.now();
    this.etcdFor(this.targets[0]); // read back with the files as they are now
    const lost: string[] = [];
    for (const [key, value] of this.acked) {
      let found: string | undefined | null = null;
      for (const client of this.etcd.values()) {
        try {
          found = await client.get(key);
          break;
        } catch {
          /* that member is down: ask the next */
        }
      }
      // (the API stores the object with what it adds: the data written is what must be there)
      let writtenAt: string | undefined;
      try {
        writtenAt = found ? JSON.parse(found).data?.writtenAt : undefined;
      } catch {
        writtenAt = undefined;
      }
      if (writtenAt !== value) lost.push(key);
    }
    this.etcd.forEach((c) => c.close());
    this.agents.forEach((a) => a.destroy());
    const balancedFinal = this.attempts.filter((a) => a.client === 'balanced' && (a.ok || a.target === '*'));
    const count = (list: Attempt[]) => ({ ok: list.filter((a) => a.ok).length, failed: list.filter((a) => !a.ok).length });
    const pinned = Object.fromEntries(
      this.targets.map((t) => {
        const mine = this.attempts.filter((a) => a.client === `pinned ${t}`);
        return [
          t,
          {
            ...count(mine),
            longestGapMs: longestGap(
              mine.filter((a) => a.ok).map((a) => a.at),
              this.started,
              end,
            ),
          },
        ];
      }),
    );
    return {
      durationMs: end - this.started,
      balanced: {
        writes: count(balancedFinal.filter((a) => a.op === 'write')),
        reads: count(balancedFinal.filter((a) => a.op === 'read')),
        longestGapMs: longestGap(
          balancedFinal.filter((a) => a.ok).map((a) => a.at),
          this.started,
          end,
        ),
      },
      pinned,
      inCluster: this.options.serviceAccount ? this.inClusterCounts() : undefined,
      kubeletProxy: this.options.kubeletProxy ? { ...this.kubelets } : undefined,
      acknowledgedWrites: this.acked.size,
      lostWrites: lost,
      failures: this.attempts.filter((a) => !a.ok),
    };
  }
}

/** One line per client kind, for logs and the README. */
function inClusterLine(report: LoadReport): string[] {
  const c = report.inCluster;
  return c
    ? [`in-cluster (service-account token): ${c.failed} failed / ${c.ok + c.failed}, ${c.unauthorized} got 401, ${c.tokens} tokens`]
    : [];
}

function kubeletLine(report: LoadReport): string[] {
  const k = report.kubeletProxy;
  return k
    ? [
        `kubelets through node proxy: ${k.unauthorized} refused (401), ${k.otherErrors} other errors / ${k.ok + k.unauthorized + k.otherErrors + k.unreachable}, ${k.unreachable} not reached`,
      ]
    : [];
}

export function summarize(report: LoadReport): string {
  const pinnedFailed = Object.values(report.pinned).reduce((s, c) => s + c.failed, 0);
  const pinnedGap = Math.max(...Object.values(report.pinned).map((c) => c.longestGapMs));
  return [
    `balanced: ${report.balanced.writes.failed} failed writes / ${report.balanced.writes.ok + report.balanced.writes.failed}, ${report.balanced.reads.failed} failed reads / ${report.balanced.reads.ok + report.balanced.reads.failed}, longest gap ${report.balanced.longestGapMs} ms`,
    `pinned: ${pinnedFailed} failed requests (${Object.entries(report.pinned)
      .map(([t, c]) => `${t}: ${c.failed}`)
      .join(', ')}), longest gap ${pinnedGap} ms`,
    ...inClusterLine(report),
    ...kubeletLine(report),
    `acknowledged writes ${report.acknowledgedWrites}, lost ${report.lostWrites.length}`,
  ].join('; ');
}
