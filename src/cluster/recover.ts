// kpki recover -i: a cluster whose certificates already expired, from the operator's machine. No pre-flight health
// (nothing works). First every control-plane node gets its expired (and soon-expiring) certificates renewed offline
// (backup, atomic writes): etcd re-reads its serving and peer certificates on each handshake, so its members talk
// again as soon as a majority has them and quorum returns before anything is restarted; only if it does not, etcd is
// restarted. Then node by node the API server, controller-manager, scheduler and kubelet are restarted with health
// waits; then the workers' kubelet client certificates in batches, each verified Ready.
import { updateRootKubeconfig } from '../node/kubeconfig-update.js';
import { kubeletClientDue, kubeletStatus } from '../node/kubelet.js';
import { planRenewal, RenewalPlan } from '../node/plan.js';
import { scanNode, ScanOptions } from '../node/scan.js';
import type { NodeInventory } from '../node/inventory.js';
import type { SshHost } from '../hosts/ssh.js';
import { Component, COMPONENTS, readServices } from '../service/health.js';
import { renewNode } from '../service/renew-node.js';
import { restartComponent } from '../service/restart.js';
import { adminAccess, clusterCa } from './cluster-access.js';
import { connectAll, ConnectOptions } from './connect.js';
import { etcdState, nodeProblems, waitGate } from './gates.js';
import type { InventoryNode } from './inventory/model.js';
import { NodeJournal, newRolloutId, operatorName, RolloutSettings } from './journal.js';
import { RolloutEvents, startOperation } from './report.js';
import { etcdProblems } from '../service/etcd.js';
import { renewWorker } from './workers.js';
import type { RolloutOutcome } from './rollout.js';

export interface RecoverOptions extends ConnectOptions {
  settings: RolloutSettings;
  scan: ScanOptions;
  concurrency: number;
  dryRun: boolean;
  confirm: (question: string) => Promise<number | undefined>;
  events: RolloutEvents;
  updateKubeconfig?: (adminConf: string, from: string) => Promise<string[]>;
}

interface Member {
  node: InventoryNode;
  host: SshHost;
  inventory: NodeInventory;
  plan?: RenewalPlan;
  due?: boolean;
}

// etcd members retry their peers every few seconds: quorum is back well within this once a majority is renewed
const QUORUM_WAIT_MS = 60_000;

export async function recoverCluster(nodes: InventoryNode[], o: RecoverOptions): Promise<RolloutOutcome> {
  const { report, events, entry, finish } = startOperation('recover', nodes.map((n) => ({ name: n.name, address: n.address, role: n.role })), o.events);
  const reached = await connectAll(nodes, { ...o, concurrency: o.concurrency, onNotice: (line) => events.log(line) });
  try {
    for (const r of reached.filter((x) => x.error)) events.finished(r.node.name, 'unreachable', r.error);
    if (reached.some((r) => r.error)) return finish(1, 'refused', `Refusing to start: recovery needs every node (limit it with --nodes):\n  ${reached.filter((r) => r.error).map((r) => r.error).join('\n  ')}`);
    const now = new Date();
    const members: Member[] = [];
    for (const r of reached) members.push({ node: r.node, host: r.host!, inventory: await scanNode(r.host!, o.scan) });
    const cps = members.filter((m) => m.node.role === 'control-plane');
    const workers = members.filter((m) => m.node.role === 'worker');
    for (const m of members) {
      const expired = m.inventory.entries.filter((e) => e.cert && e.cert.notAfter <= now).map((e) => ({ name: e.name, agoMs: now.getTime() - e.cert!.notAfter.getTime() }));
      const where = { node: m.node.name, address: m.node.address, role: m.node.role, expired };
      if (m.node.role === 'control-plane') {
        m.plan = planRenewal(m.inventory, { ...o.settings, names: ['all'], now });
        events.planned({ ...where, plan: m.plan });
      } else {
        const status = await kubeletStatus(m.host, m.inventory);
        // (nothing but what already expired, unless a window was asked for)
        m.due = kubeletClientDue(status, o.settings.ifExpiresWithinMs ?? 0, now);
        events.planned({ ...where, kubelet: { client: status.client, clientDue: m.due } });
      }
    }
    if (o.dryRun) return finish(0, 'dry-run', 'Then: etcd back to quorum, kube-apiserver, kube-controller-manager, kube-scheduler and kubelet restarted node by node, workers renewed and verified Ready.', '(dry run: nothing was changed)');
    const refused = await o.confirm(`Recover ${cps.length} control-plane node(s) and ${workers.filter((w) => w.due).length} worker(s)?`);
    if (refused !== undefined) return finish(refused, 'refused', 'Nothing was changed.');
    const rolloutId = newRolloutId();
    report.rollout = rolloutId;
    const reason = `recover (rollout ${rolloutId})`;

    // 1. Every control-plane node's certificates, offline. etcd picks up its own by itself.
    for (const m of cps) {
      events.step(m.node.name, 'renew certificates');
      const { plan, backup } = await renewNode(m.host, { scan: o.scan, plan: () => m.plan!, reason, unpark: true, log: (line) => events.log(line, m.node.name) });
      if (backup) {
        Object.assign(entry(m.node.name), { backup: backup.id, certificates: plan.items.map((i) => ({ name: i.name, oldNotAfter: i.oldNotAfter.toISOString(), newNotAfter: i.newNotAfter.toISOString() })) });
        events.log(`renewed ${plan.items.length} certificate(s); backup ${backup.id}`, m.node.name);
      }
      events.step(m.node.name, 'renewed; waiting for etcd quorum');
    }

    // 2. etcd quorum: by itself, else by restarting the members one after the other.
    const quorum = () => etcdState(cps, o.scan).then((s) => (s.states ? etcdProblems(s.states) : /external etcd/.test(s.error ?? '') ? [] : [s.error!]));
    let etcd = await waitGate(quorum, QUORUM_WAIT_MS);
    const restartedEtcd = new Set<string>();
    if (etcd.length > 0) {
      events.log(`etcd is not healthy with the renewed certificates alone (${etcd[0]}): restarting its members one after the other`);
      for (const m of cps) {
        const services = await readServices(m.host, o.scan.kubeconfigDir);
        if (!services.pods.has('etcd')) continue;
        events.step(m.node.name, 'restart etcd');
        // no health wait per member: the first ones cannot be healthy before a majority runs
        const r = await restartComponent(m.host, services, 'etcd', { strategy: o.settings.strategy, timeoutMs: o.settings.timeoutMs, kubeconfigDir: o.scan.kubeconfigDir, log: (l) => events.log(l, m.node.name), skipHealth: true });
        if (!r.skipped) restartedEtcd.add(m.node.name);
      }
      etcd = await waitGate(quorum, o.settings.timeoutMs);
      if (etcd.length > 0) return finish(1, 'stopped', `etcd did not regain quorum:\n  ${etcd.join('\n  ')}`, 'The renewed certificates stay in place (the old ones were expired); look at the etcd logs on the nodes, then run kpki recover -i again.');
    }
    events.log('etcd: quorum, every member healthy and in sync');

    // 3. Node by node: everything that loads certificates only at start.
    for (const m of cps) {
      const services = await readServices(m.host, o.scan.kubeconfigDir);
      const restarted: Component[] = restartedEtcd.has(m.node.name) ? ['etcd'] : [];
      const reloaded: Component[] = restartedEtcd.has(m.node.name) || !services.pods.has('etcd') ? [] : ['etcd'];
      for (const component of COMPONENTS.filter((c) => c !== 'etcd' && (c === 'kubelet' || services.pods.has(c)))) {
        events.step(m.node.name, `restart ${component}`);
        const r = await restartComponent(m.host, services, component, { strategy: o.settings.strategy, timeoutMs: o.settings.timeoutMs, kubeconfigDir: o.scan.kubeconfigDir, log: (l) => events.log(l, m.node.name) });
        events.log(`${component}: ${r.skipped ? `skipped: ${r.skipped}` : r.ok ? r.detail : `FAILED: ${r.detail}`}`, m.node.name);
        if (!r.ok) {
          events.finished(m.node.name, 'failed', `${component}: ${r.detail}`);
          for (const rest of members.filter((x) => entry(x.node.name).outcome === 'pending' || (x !== m && entry(x.node.name).outcome === 'running'))) events.finished(rest.node.name, 'not-touched');
          return finish(1, 'stopped', `Recovery STOPPED at ${m.node.name}: ${component} is not healthy with the renewed certificates (${r.detail}).`, 'The renewed certificates stay in place (the old ones were expired); fix the cause, then run kpki recover -i again: it renews only what is still due.');
        }
        if (!r.skipped) restarted.push(component);
      }
      Object.assign(entry(m.node.name), { restarted, reloaded });
      await updateRootKubeconfig(m.host, m.plan!.items.map((i) => i.name), '/root/.kube/config', (l) => events.log(l, m.node.name), o.scan.kubeconfigDir);
      const problems = await waitGate(() => nodeProblems(m, o.scan), 60_000);
      if (problems.length > 0) {
        events.finished(m.node.name, 'failed', problems[0]);
        return finish(1, 'stopped', `Recovery STOPPED at ${m.node.name}: not healthy:\n  ${problems.join('\n  ')}`);
      }
      events.finished(m.node.name, m.plan!.items.length ? 'renewed' : 'unchanged', 'healthy');
    }

    // 4. Workers.
    const due = workers.filter((w) => w.due);
    for (const w of workers.filter((x) => !x.due)) events.finished(w.node.name, 'unchanged', 'kubelet client certificate not due');
    if (due.length > 0) {
      const ca = await clusterCa(cps, o.scan);
      if (!ca) return finish(1, 'stopped', 'No control-plane node has the CA key: the workers\' kubelet certificates cannot be signed.');
      const api = await adminAccess(cps, o.scan);
      for (let i = 0; i < due.length; i += o.settings.maxUnavailable) {
        const batch = due.slice(i, i + o.settings.maxUnavailable);
        const results = await Promise.all(
          batch.map(async (w) => {
            const journal = new NodeJournal(w.host, { rollout: rolloutId, operation: 'recover', startedAt: report.startedAt, by: operatorName(), settings: { ...o.settings, names: ['all'] }, nodes: [], node: w.node.name, step: 'pending', updatedAt: '' }, false);
            const result = await renewWorker(w.node, w.host, { scan: o.scan, events, report: entry(w.node.name), journal, reason, ca, api: api?.access });
            events.finished(w.node.name, result.outcome, 'detail' in result ? result.detail : undefined);
            return result;
          }),
        );
        if (results.some((r) => r.outcome === 'failed' || r.outcome === 'rolled-back')) return finish(1, 'stopped', 'Recovery STOPPED at a worker (see above).');
      }
    }
    if (o.updateKubeconfig) {
      const admin = await adminAccess(cps, o.scan);
      if (admin) for (const line of await o.updateKubeconfig(admin.text, admin.from)) events.log(line);
    }
    return finish(0, 'complete', `Recovery ${rolloutId} complete: every control-plane node healthy, ${due.length} worker(s) renewed and Ready.`);
  } catch (err) {
    return finish(1, 'interrupted', `Recovery interrupted: ${(err as Error).message}`, 'Run kpki recover -i again: it renews only what is still due and restarts the rest.');
  } finally {
    for (const r of reached) r.host?.close();
  }
}
