// kpki recover -i: a cluster whose certificates already expired, from the operator's machine. No pre-flight health
// (nothing works). First every control-plane node gets its expired (and soon-expiring) certificates renewed offline
// (backup, atomic writes): etcd re-reads its serving and peer certificates on each handshake, so its members talk
// again as soon as a majority has them and quorum returns before anything is restarted; only if it does not, etcd is
// restarted. Then node by node the API server, controller-manager, scheduler and kubelet are restarted with health
// waits; then the workers' kubelet client certificates in batches, each verified Ready.
import { updateRootKubeconfig } from '../node/kubeconfig/index.js';
import { kubeletClientDue, kubeletStatus } from '../node/kubelet/index.js';
import { planRenewal, RenewalPlan } from '../node/renew/index.js';
import { scanNode, ScanOptions } from '../node/scan/index.js';
import { Component, COMPONENTS, readServices, runsHere } from '../service/health.js';
import { renewNode } from '../service/renew-node.js';
import { restartComponent } from '../service/restart.js';
import { etcdProblems } from '../service/etcd.js';
import { adminAccess, clusterCa } from './cluster-access.js';
import type { ConnectOptions } from './connect.js';
import { etcdState, nodeProblems, waitGate } from './gates.js';
import type { InventoryNode } from './inventory/model.js';
import { newRolloutId, RolloutSettings } from './rollout/journal.js';
import { changesOf } from './rollout/journaled-write.js';
import {
  ClusterMember,
  clusterOperation,
  markUntouched,
  memoryJournal,
  OperationOutcome,
  renewKubeletsInBatches,
  updateOperatorKubeconfig,
} from './operation.js';
import type { Operation, RolloutEvents, Refusal } from './outcome.js';

export interface RecoverOptions extends ConnectOptions {
  settings: RolloutSettings;
  scan: ScanOptions;
  concurrency: number;
  dryRun: boolean;
  confirm: (question: string) => Promise<Refusal | undefined>;
  events: RolloutEvents;
  updateKubeconfig?: (adminConf: string, from: string) => Promise<string[]>;
}

interface Member extends ClusterMember {
  plan?: RenewalPlan;
  due?: boolean;
}

// etcd members retry their peers every few seconds: quorum is back well within this once a majority is renewed
const QUORUM_WAIT_MS = 60_000;
const KEPT = 'The renewed certificates stay in place (the old ones were expired)';

const SPEC = {
  kind: 'recover' as const,
  needsEveryNode: 'recovery needs every node',
  interrupted: (err: string) => [
    `Recovery interrupted: ${err}`,
    'Run kpki recover -i again: it renews only what is still due and restarts the rest.',
  ],
};

export function recoverCluster(nodes: InventoryNode[], o: RecoverOptions): Promise<OperationOutcome> {
  return clusterOperation(nodes, SPEC, o, async (op, reached) => {
    const members = await survey(op, reached, o);
    const cps = members.filter((m) => m.node.role === 'control-plane');
    const workers = members.filter((m) => m.node.role === 'worker');
    if (o.dryRun)
      return op.finish(
        'dry-run',
        'Then: etcd back to quorum, kube-apiserver, kube-controller-manager, kube-scheduler and kubelet restarted node by node, workers renewed and verified Ready.',
        '(dry run: nothing was changed)',
      );
    const refused = await o.confirm(`Recover ${cps.length} control-plane node(s) and ${workers.filter((w) => w.due).length} worker(s)?`);
    if (refused !== undefined) return op.refuse(refused, 'Nothing was changed.');
    op.report.rollout = newRolloutId();
    const reason = `recover (rollout ${op.report.rollout})`;
    await renewOffline(op, cps, reason, o);
    const etcd = await etcdQuorum(op, cps, o);
    if (etcd.problems.length > 0)
      return op.finish(
        'stopped',
        `etcd did not regain quorum:\n  ${etcd.problems.join('\n  ')}`,
        `${KEPT}; look at the etcd logs on the nodes, then run kpki recover -i again.`,
      );
    for (const m of cps) {
      const stopped = await restartNode(op, m, etcd.restarted.has(m.node.name), o);
      if (stopped) return stopped;
    }
    const due = workers.filter((w) => w.due);
    for (const w of workers.filter((x) => !x.due)) op.events.finished(w.node.name, 'unchanged', 'kubelet client certificate not due');
    if (due.length > 0) {
      const ca = await clusterCa(cps, o.scan);
      if (!ca) return op.finish('stopped', "No control-plane node has the CA key: the workers' kubelet certificates cannot be signed.");
      const api = (await adminAccess(cps, o.scan))?.access;
      const settings = { ...o.settings, names: ['all'] };
      const bad = await renewKubeletsInBatches(op, {
        members: due,
        batchSize: o.settings.maxUnavailable,
        journalOf: (m) => memoryJournal(m, op, 'recover', settings),
        reason,
        scan: o.scan,
        ca,
        api,
      });
      if (bad) return op.finish('stopped', 'Recovery STOPPED at a worker (see above).');
    }
    await updateOperatorKubeconfig(op, cps, o.scan, o.updateKubeconfig);
    return op.finish(
      'complete',
      `Recovery ${op.report.rollout} complete: every control-plane node healthy, ${due.length} worker(s) renewed and Ready.`,
    );
  });
}

/** What expired on each node, and what recovery will renew there. */
async function survey(op: Operation, reached: ClusterMember[], o: RecoverOptions): Promise<Member[]> {
  const now = new Date();
  const members: Member[] = [];
  for (const r of reached) {
    const m: Member = { ...r };
    const scan = await scanNode(m.host, o.scan);
    const expired = scan.entries
      .filter((e) => e.cert && e.cert.notAfter <= now)
      .map((e) => ({ name: e.name, agoMs: now.getTime() - e.cert!.notAfter.getTime() }));
    const where = { node: m.node.name, address: m.node.address, role: m.node.role, expired };
    if (m.node.role === 'control-plane') {
      m.plan = planRenewal(scan, { ...o.settings, names: ['all'], now });
      op.events.planned({ ...where, plan: m.plan });
    } else {
      const status = await kubeletStatus(m.host, scan);
      // (nothing but what already expired, unless a window was asked for)
      m.due = kubeletClientDue(status, o.settings.ifExpiresWithinMs ?? 0, now);
      op.events.planned({ ...where, kubelet: { client: status.client, clientDue: m.due } });
    }
    members.push(m);
  }
  return members;
}

/** 1. Every control-plane node's certificates, offline, as planned. etcd picks up its own by itself. */
async function renewOffline(op: Operation, cps: Member[], reason: string, o: RecoverOptions): Promise<void> {
  for (const m of cps) {
    op.events.step(m.node.name, 'renew certificates');
    const { plan, backup } = await renewNode(m.host, {
      scan: o.scan,
      plan: () => m.plan!,
      reason,
      unpark: true,
      log: (line) => op.events.log(line, m.node.name),
    });
    if (backup) {
      Object.assign(op.entry(m.node.name), { backup: backup.id, certificates: changesOf(plan) });
      op.events.log(`renewed ${plan.items.length} certificate(s); backup ${backup.id}`, m.node.name);
    }
    op.events.step(m.node.name, 'renewed; waiting for etcd quorum');
  }
}

/** 2. etcd quorum: by itself, else by restarting the members one after the other (which it says). */
async function etcdQuorum(op: Operation, cps: Member[], o: RecoverOptions): Promise<{ restarted: Set<string>; problems: string[] }> {
  const quorum = () =>
    etcdState(cps, o.scan).then((s) => (s.states ? etcdProblems(s.states) : /external etcd/.test(s.error ?? '') ? [] : [s.error!]));
  let etcd = await waitGate(quorum, QUORUM_WAIT_MS);
  const restarted = new Set<string>();
  if (etcd.length > 0) {
    op.events.log(`etcd is not healthy with the renewed certificates alone (${etcd[0]}): restarting its members one after the other`);
    for (const m of cps) {
      const services = await readServices(m.host, o.scan.kubeconfigDir);
      if (!runsHere(services, 'etcd')) continue;
      op.events.step(m.node.name, 'restart etcd');
      // no health wait per member: the first ones cannot be healthy before a majority runs
      const r = await restartComponent(m.host, services, 'etcd', {
        strategy: o.settings.strategy,
        timeoutMs: o.settings.timeoutMs,
        kubeconfigDir: o.scan.kubeconfigDir,
        log: (l) => op.events.log(l, m.node.name),
        skipHealth: true,
      });
      if (!r.skipped) restarted.add(m.node.name);
    }
    etcd = await waitGate(quorum, o.settings.timeoutMs);
    if (etcd.length > 0) return { restarted, problems: etcd };
  }
  op.events.log('etcd: quorum, every member healthy and in sync');
  return { restarted, problems: [] };
}

/** 3. One node: everything that loads certificates only at start, then root's kubeconfig and the node's health. */
async function restartNode(op: Operation, m: Member, etcdRestarted: boolean, o: RecoverOptions): Promise<OperationOutcome | undefined> {
  const services = await readServices(m.host, o.scan.kubeconfigDir);
  const restarted: Component[] = etcdRestarted ? ['etcd'] : [];
  const reloaded: Component[] = etcdRestarted || !runsHere(services, 'etcd') ? [] : ['etcd'];
  const log = (l: string) => op.events.log(l, m.node.name);
  for (const component of COMPONENTS.filter((c) => c !== 'etcd' && runsHere(services, c))) {
    op.events.step(m.node.name, `restart ${component}`);
    const r = await restartComponent(m.host, services, component, {
      strategy: o.settings.strategy,
      timeoutMs: o.settings.timeoutMs,
      kubeconfigDir: o.scan.kubeconfigDir,
      log,
    });
    log(`${component}: ${r.skipped ? `skipped: ${r.skipped}` : r.ok ? r.detail : `FAILED: ${r.detail}`}`);
    if (!r.ok) {
      op.events.finished(m.node.name, 'failed', `${component}: ${r.detail}`);
      markUntouched(op, m.node.name);
      return op.finish(
        'stopped',
        `Recovery STOPPED at ${m.node.name}: ${component} is not healthy with the renewed certificates (${r.detail}).`,
        `${KEPT}; fix the cause, then run kpki recover -i again: it renews only what is still due.`,
      );
    }
    if (!r.skipped) restarted.push(component);
  }
  Object.assign(op.entry(m.node.name), { restarted, reloaded });
  await updateRootKubeconfig(
    m.host,
    m.plan!.items.map((i) => i.name),
    '/root/.kube/config',
    log,
    o.scan.kubeconfigDir,
  );
  const problems = await waitGate(() => nodeProblems(m, o.scan), 60_000);
  if (problems.length > 0) {
    op.events.finished(m.node.name, 'failed', problems[0]);
    return op.finish('stopped', `Recovery STOPPED at ${m.node.name}: not healthy:\n  ${problems.join('\n  ')}`);
  }
  op.events.finished(m.node.name, m.plan!.items.length ? 'renewed' : 'unchanged', 'healthy');
  return undefined;
}
