// Rolling renewal of a whole cluster from the operator's machine: plan every node, check the control plane is
// healthy, then one control-plane node at a time (backup → renew → restart in order → node gates → cluster gates),
// stopping at the first node that does not come back (that node is rolled back; the next ones are left untouched),
// then the workers' kubelet client certificates.
import { acquireLock, applyWrites, recoverInterrupted } from '../node/apply.js';
import { KUBELET_CLIENT_LINK, kubeletStatus, planKubeletRenewal } from '../node/kubelet.js';
import { materialize } from '../node/materialize.js';
import { planRenewal, PlanOptions, RenewalPlan } from '../node/plan.js';
import type { NodeInventory } from '../node/inventory.js';
import { scanNode, ScanOptions } from '../node/scan.js';
import type { SshHost } from '../hosts/ssh.js';
import { componentHealth, nodeHealth, readServices } from '../service/health.js';
import { restoreParked } from '../service/parked.js';
import { restartComponent } from '../service/restart.js';
import type { StrategyName } from '../service/strategies.js';
import { renderPlan } from '../report/plan.js';
import { kubeadmDate } from '../report/kubeadm-format.js';
import { connectNode, ConnectOptions } from './check.js';
import type { InventoryNode } from './inventory/model.js';

export interface RolloutOptions extends ConnectOptions {
  plan: Omit<PlanOptions, 'now'>;
  scan: ScanOptions;
  strategy: StrategyName;
  timeoutMs: number;
  force: boolean;
  dryRun: boolean;
  confirm: (question: string) => Promise<number | undefined>;
  log: (line: string) => void;
  /** Renews one node and brings it into service; 0 when healthy, else it rolled the node back. */
  renewNode: (host: SshHost, plan: RenewalPlan, inventory: NodeInventory) => Promise<number>;
}

interface Member {
  node: InventoryNode;
  host: SshHost;
  inventory: NodeInventory;
  plan: RenewalPlan;
}

async function clusterGate(members: Member[], o: RolloutOptions): Promise<string[]> {
  const failures: string[] = [];
  for (const m of members.filter((x) => x.node.role === 'control-plane')) {
    const services = await readServices(m.host, o.scan.kubeconfigDir);
    for (const component of ['etcd', 'kube-apiserver'] as const) {
      const checks = await componentHealth(m.host, services, component, o.scan.kubeconfigDir);
      for (const c of checks.filter((x) => !x.ok)) failures.push(`${m.node.name} ${component}: ${c.detail}`);
    }
  }
  return failures;
}

async function waitClusterGate(members: Member[], o: RolloutOptions): Promise<string[]> {
  const end = Date.now() + o.timeoutMs;
  for (;;) {
    const failures = await clusterGate(members, o);
    if (failures.length === 0 || Date.now() > end) return failures;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export async function rollout(nodes: InventoryNode[], o: RolloutOptions): Promise<number> {
  const now = new Date();
  const members: Member[] = [];
  try {
    // Pre-flight: reach and read every node, plan every node.
    const hosts: SshHost[] = [];
    try {
      for (const node of nodes) {
        const host = await connectNode(node, { acceptNewHostKeys: o.acceptNewHostKeys, timeoutMs: 15_000 });
        hosts.push(host);
        const inventory = await scanNode(host, o.scan);
        // workers: only their kubelet client certificate, planned below from its expiry
        const plan: RenewalPlan = node.role === 'worker' ? { node: node.name, items: [], skipped: [], validityMs: 0, validitySource: '', warnings: [] } : planRenewal(inventory, { ...o.plan, now });
        members.push({ node, host, inventory, plan });
      }
    } catch (err) {
      for (const h of hosts) if (!members.some((m) => m.host === h)) h.close();
      throw err;
    }
    const cps = members.filter((m) => m.node.role === 'control-plane');
    const workers = members.filter((m) => m.node.role === 'worker');
    const window = o.plan.ifExpiresWithinMs ?? Number.POSITIVE_INFINITY;
    const workerNeeds = await Promise.all(workers.map(async (w) => {
      const status = await kubeletStatus(w.host, w.inventory);
      const named = o.plan.names.length === 0 || o.plan.names.some((n) => ['all', 'kubelet-client', 'kubelet.conf'].includes(n));
      return { member: w, status, due: named && status.client !== undefined && status.client.notAfter.getTime() - now.getTime() <= window };
    }));
    for (const m of cps) o.log(`== ${m.node.name} (${m.node.address})\n${renderPlan(m.plan)}`);
    for (const w of workerNeeds) o.log(`== ${w.member.node.name} (${w.member.node.address}, worker): kubelet client certificate ${w.status.client ? `expires ${kubeadmDate(w.status.client.notAfter)}` : 'not found'}${w.due ? ': will be renewed' : ': nothing to do'}`);
    const work = cps.filter((m) => m.plan.items.length > 0);
    if (work.length === 0 && !workerNeeds.some((w) => w.due)) {
      o.log('Nothing to renew on any node.');
      return 0;
    }
    if (o.dryRun) {
      o.log('(dry run: nothing was changed)');
      return 0;
    }
    const unhealthy = (await Promise.all(cps.map(async (m) => (await nodeHealth(m.host, await readServices(m.host, o.scan.kubeconfigDir), o.scan.kubeconfigDir)).filter((c) => !c.ok).map((c) => `${m.node.name} ${c.component} ${c.check}: ${c.detail}`)))).flat();
    if (unhealthy.length > 0 && !o.force) {
      o.log(`Refusing to start: the control plane is not healthy now (use --force for a recovery):\n  ${unhealthy.join('\n  ')}`);
      return 1;
    }
    const refused = await o.confirm(`Renew ${work.length} control-plane node(s) one at a time, then ${workerNeeds.filter((w) => w.due).length} worker(s)?`);
    if (refused !== undefined) return refused;

    for (const [i, m] of work.entries()) {
      const started = Date.now();
      o.log(`\n== [${i + 1}/${work.length}] ${m.node.name}: renewing ${m.plan.items.length} certificate(s)`);
      const lock = await acquireLock(m.host);
      let code: number;
      try {
        const recovered = await recoverInterrupted(m.host);
        if (recovered) o.log(`${m.node.name}: ${recovered}`);
        for (const line of await restoreParked(m.host)) o.log(`${m.node.name}: ${line}`);
        code = await o.renewNode(m.host, m.plan, m.inventory);
      } finally {
        await lock.release();
      }
      if (code !== 0) {
        o.log(`\nRollout STOPPED at ${m.node.name} (rolled back to its backup). Not touched: ${work.slice(i + 1).map((x) => x.node.name).join(', ') || 'no other node'}${workerNeeds.some((w) => w.due) ? ', workers' : ''}.`);
        return 1;
      }
      const gate = await waitClusterGate(members, o);
      if (gate.length > 0) {
        o.log(`\nRollout STOPPED after ${m.node.name}: the cluster is not healthy:\n  ${gate.join('\n  ')}`);
        return 1;
      }
      o.log(`${m.node.name}: done in ${((Date.now() - started) / 1000).toFixed(1)} s; every control-plane node healthy`);
    }
    const ca = cps.map((m) => m.inventory.cas.find((c) => c.name === 'ca')).find((c) => c?.cert && c.key);
    for (const w of workerNeeds.filter((x) => x.due)) {
      if (!ca) {
        o.log(`${w.member.node.name}: no control-plane node with the CA key: kubelet certificate not renewed`);
        return 1;
      }
      const nodeName = /^system:node:(.+)$/.exec(w.status.client!.commonName)?.[1] ?? w.member.node.name;
      const renewal = await planKubeletRenewal(w.member.host, w.status, { cert: ca.cert!, key: ca.key! }, { nodeName, validityMs: o.plan.validityMs ?? 365 * 86_400_000, now: new Date() });
      const lock = await acquireLock(w.member.host);
      try {
        const { backup } = await applyWrites(w.member.host, renewal.writes, 'kubelet renew');
        o.log(`${w.member.node.name}: kubelet client certificate renewed (${KUBELET_CLIENT_LINK}), valid until ${kubeadmDate(renewal.notAfter)}; backup ${backup.id}`);
        const restarted = await restartComponent(w.member.host, await readServices(w.member.host), 'kubelet', { strategy: 'systemd', timeoutMs: o.timeoutMs, log: o.log });
        if (restarted.skipped) o.log(`${w.member.node.name}: note: ${restarted.skipped}`);
      } finally {
        await lock.release();
      }
    }
    o.log('\nRollout complete: every node renewed and healthy.');
    return 0;
  } finally {
    for (const m of members) m.host.close();
  }
}
