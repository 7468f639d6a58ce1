// `kpki timer run`: what the renewal timer does on a node. Renew what expires within the window and bring it into
// service, but on a control-plane node only while holding the cluster-wide lock in the cluster's own etcd, and only
// when every other API server is ready and etcd has a member to spare; otherwise wait (bounded) and leave it to the
// next run. When etcd cannot be reached, fall back to a time slot per node (its place in etcd's --initial-cluster ×
// spacing) and say so. Every run records what it did in the node's timer state, for `timer status` and the exporter.
import type { Host } from '../hosts/host.js';
import { planRenewal } from '../node/renew/index.js';
import { scanNode, ScanOptions } from '../node/scan/index.js';
import type { NodeScan } from '../node/scan/index.js';
import { readTimerState, TimerState, writeTimerState } from './timer-state.js';
import type { BackupManifest } from '../node/txn/index.js';
import { updateRootKubeconfig } from '../node/kubeconfig/index.js';
import { parseKubeconfig } from '../kubeadm/kubeconfig.js';
import { clusterState, EtcdCredentials, spareMembers } from '../service/etcd.js';
import { tryEtcdLock } from './etcd-lock.js';
import type { HeldLock, LockAttempt } from '../util/cluster-lock.js';
import { NodeServices, readServices } from '../service/health.js';
import { etcdFlags } from '../service/etcd-service.js';
import { bringIntoService } from '../service/into-service.js';
import { renewNode } from '../service/renew-node.js';
import { httpGet, describeNetworkError } from '../api/http.js';
import type { StrategyName } from '../service/strategies.js';
import { posix } from 'node:path';

export interface RenewalRunOptions {
  renewWithinMs: number;
  maxWaitMs: number;
  spacingMs: number;
  strategy: StrategyName;
  timeoutMs: number;
  scan: ScanOptions;
  rootKubeconfig: string;
  log: (line: string) => void;
  /** How often a waiting run tries the lock again. */
  retryMs?: number;
  /** The cluster-wide lock; default: the lease-backed key in the cluster's etcd. The in-cluster agent uses a Lease. */
  clusterLock?: { what: string; tryLock: (self: string) => Promise<LockAttempt> };
}

/** 0 renewed or nothing to do, 1 failed (rolled back), 75 (EX_TEMPFAIL) left to the next run. */
export type RunCode = 0 | 1 | 75;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stamp = () => new Date().toISOString();

/** The etcd credentials of the node's API server (the etcd client certificate already on the node). */
async function etcdClient(
  host: Host,
  services: NodeServices,
  certDir: string,
): Promise<{ endpoint: string; creds: EtcdCredentials } | undefined> {
  const etcd = etcdFlags(services);
  const api = services.pods.get('kube-apiserver');
  if (!etcd && !api) return undefined;
  const endpoint = (etcd?.get('advertise-client-urls') ?? api?.flags.get('etcd-servers') ?? '').split(',')[0].replace(/\/$/, '');
  if (!endpoint) return undefined;
  const file = (flag: string, fallback: string) => api?.flags.get(flag) ?? posix.join(certDir, fallback);
  try {
    const [ca, cert, key] = await Promise.all(
      [
        file('etcd-cafile', 'etcd/ca.crt'),
        file('etcd-certfile', 'apiserver-etcd-client.crt'),
        file('etcd-keyfile', 'apiserver-etcd-client.key'),
      ].map((p) => host.readFile(p)),
    );
    return { endpoint, creds: { ca, cert, key, via: services.dial } };
  } catch {
    return undefined;
  }
}

/** Every other control-plane API server ready, and etcd able to lose one member while this node restarts. */
async function clusterReady(
  host: Host,
  access: { endpoint: string; creds: EtcdCredentials },
  self: string,
  kubeconfigDir: string,
): Promise<string[]> {
  const states = await clusterState(access.endpoint, access.creds);
  const problems = states.filter((s) => !s.healthy).map((s) => `etcd member ${s.member.name}: ${s.detail}`);
  if (states.length > 1 && spareMembers(states) < 1)
    problems.push(`etcd has no member to spare (${states.filter((s) => s.healthy).length} of ${states.length} healthy)`);
  const id = parseKubeconfig((await host.readFile(posix.join(kubeconfigDir, 'admin.conf'))).toString());
  for (const s of states.filter((x) => x.member.name !== self)) {
    const hostName = s.member.clientUrls[0] ? new URL(s.member.clientUrls[0]).hostname : undefined;
    if (!hostName) continue;
    try {
      const r = await httpGet(`https://${hostName.includes(':') ? `[${hostName}]` : hostName}:6443/readyz`, {
        ca: id.certificateAuthorityData,
        cert: id.clientCertificateData,
        key: id.clientKeyData,
        timeoutMs: 3000,
      });
      if (r.status !== 200) problems.push(`kube-apiserver on ${s.member.name}: HTTP ${r.status}`);
    } catch (err) {
      problems.push(`kube-apiserver on ${s.member.name}: ${describeNetworkError(err)}`);
    }
  }
  return problems;
}

/** Where this node is in etcd's --initial-cluster (kubeadm adds members in join order): its fallback slot. */
function slotOf(services: NodeServices, self: string): number {
  const names = (etcdFlags(services)?.get('initial-cluster') ?? '')
    .split(',')
    .map((m) => m.split('=')[0])
    .filter(Boolean);
  const i = names.indexOf(self);
  return i < 0 ? 0 : i;
}

/** What a control-plane node waits for before it renews: the cluster lock and a ready cluster, or its time slot. */
type Turn = { clusterLock?: HeldLock } | { skipped: string };

async function waitForTurn(host: Host, scan: NodeScan, o: RenewalRunOptions): Promise<Turn> {
  const services = await readServices(host, scan.kubeconfigDir);
  if (!services.pods.has('kube-apiserver') && !etcdFlags(services)) return {}; // a worker: nothing to wait for
  const self = etcdFlags(services)?.get('name') ?? host.name;
  const access = await etcdClient(host, services, scan.certDir);
  const deadline = Date.now() + o.maxWaitMs;
  let etcdDown = !access && !o.clusterLock ? 'no etcd client certificate or endpoint on this node' : undefined;
  while (!etcdDown) {
    let why: string;
    try {
      const attempt = o.clusterLock
        ? await o.clusterLock.tryLock(self)
        : await tryEtcdLock(access!.endpoint, access!.creds, { node: self });
      if (!attempt.acquired) why = `another node renews now: ${attempt.heldBy}`;
      else {
        const problems = access ? await clusterReady(host, access, self, scan.kubeconfigDir) : [];
        if (problems.length === 0) {
          o.log(`${stamp()} lock acquired: ${attempt.lock.holder}`);
          return { clusterLock: attempt.lock };
        }
        await attempt.lock.release();
        why = `the cluster is not ready for one node to restart: ${problems.join('; ')}`;
      }
    } catch (err) {
      etcdDown = `${o.clusterLock?.what ?? 'etcd'}: ${(err as Error).message}`;
      break;
    }
    if (Date.now() > deadline) return { skipped: `${why}; waited ${Math.round(o.maxWaitMs / 60_000)} min: left to the next run` };
    o.log(`${stamp()} waiting: ${why}`);
    await sleep(o.retryMs ?? 10_000);
  }
  const slot = slotOf(services, self);
  o.log(
    `${stamp()} the cluster lock cannot be reached (${etcdDown}): falling back to per-node time slots; ${self} is #${slot + 1}, waiting ${Math.round((slot * o.spacingMs) / 60_000)} min`,
  );
  await sleep(slot * o.spacingMs);
  o.log(`${stamp()} slot #${slot + 1} reached: renewing without the cluster lock`);
  return {};
}

export async function renewalRun(host: Host, o: RenewalRunOptions): Promise<RunCode> {
  const record = await recorder(host, o.log);
  const scan = await scanNode(host, o.scan);
  const plan = planRenewal(scan, { names: ['all'], ifExpiresWithinMs: o.renewWithinMs, now: new Date() });
  if (plan.items.length === 0) {
    await record('nothing-to-do', `nothing expires within the window on ${host.name}`);
    return 0;
  }
  o.log(`${stamp()} ${plan.items.length} certificate(s) expire within the window: ${plan.items.map((i) => i.name).join(', ')}`);
  const turn = await waitForTurn(host, scan, o);
  if ('skipped' in turn) {
    await record('skipped', turn.skipped);
    return 75;
  }
  const clusterLock = turn.clusterLock;
  try {
    const run = await renewNode<RunCode>(host, {
      scan: o.scan,
      plan: { names: ['all'], ifExpiresWithinMs: o.renewWithinMs },
      reason: 'renew (timer)',
      unpark: true,
      log: o.log,
      review: async (plan) => {
        if (plan.items.length > 0) return undefined;
        await record('nothing-to-do', 'renewed meanwhile');
        return 0;
      },
      then: ({ plan, backup }) =>
        intoService(
          host,
          plan.items.map((i) => i.name),
          backup!,
          o,
          record,
        ),
    });
    return run.value ?? 0;
  } catch (err) {
    await record('failure', (err as Error).message);
    return 1;
  } finally {
    if (clusterLock) {
      await clusterLock
        .release()
        .catch((err: Error) => o.log(`warning: releasing the cluster lock: ${err.message} (its lease runs out by itself)`));
      o.log(`${stamp()} lock released`);
    }
  }
}

type Record = (lastResult: NonNullable<TimerState['lastResult']>, lastDetail: string) => Promise<void>;

/** Every run leaves what it did in the node's timer state (for `timer status` and the exporter) and in its log. */
async function recorder(host: Host, log: (line: string) => void): Promise<Record> {
  const previous = (await readTimerState(host)) ?? {};
  const started = stamp();
  return async (lastResult, lastDetail) => {
    await writeTimerState(host, {
      ...previous,
      lastRunAt: started,
      lastResult,
      lastDetail,
      ...(lastResult === 'failure' || lastResult === 'skipped' ? {} : { lastSuccessAt: stamp() }),
    });
    log(`${stamp()} result: ${lastResult}: ${lastDetail}`);
  };
}

/** The renewed files into service (rolled back if a component does not come back), then root's kubeconfig. */
async function intoService(host: Host, renewed: string[], backup: BackupManifest, o: RenewalRunOptions, record: Record): Promise<RunCode> {
  o.log(`${stamp()} renewed ${renewed.length} certificate(s); backup ${backup.id}`);
  const result = await bringIntoService(host, { renewed }, backup, {
    strategy: o.strategy,
    timeoutMs: o.timeoutMs,
    kubeconfigDir: o.scan.kubeconfigDir,
    log: o.log,
  });
  if (!result.ok) {
    await record(
      'failure',
      `${result.failure!.component} did not come back with the renewed certificates (${result.failure!.detail}); rolled back${result.failure!.rollbackOk ? '' : ' INCOMPLETELY'} to backup ${backup.id}`,
    );
    return 1;
  }
  await updateRootKubeconfig(host, renewed, o.rootKubeconfig, o.log, o.scan.kubeconfigDir);
  for (const note of result.notes) o.log(`note: ${note}`);
  await record(
    'success',
    `renewed ${renewed.join(', ')}; reloaded ${result.reloaded.join(', ') || 'nothing'}, restarted ${result.restarted.join(', ') || 'nothing'}; backup ${backup.id}`,
  );
  return 0;
}
