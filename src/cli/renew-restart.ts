// After `renew --restart` wrote the files: restart what uses them, verify, and if a component does not come back,
// put the backup back, restart again and verify that the old state works. Never leaves the node worse than before.
import type { Host } from '../hosts/host.js';
import { USED_BY } from '../kubeadm/catalog.js';
import { BackupManifest, restoreFiles } from '../node/backup.js';
import type { RenewalPlan } from '../node/plan.js';
import { Component, COMPONENTS, readServices } from '../service/health.js';
import { restartComponents, RestartOptions } from '../service/restart.js';
import type { StrategyName } from '../service/strategies.js';
import { log } from './service.js';
import { posix } from 'node:path';
import { DEFAULT_KUBECONFIG_DIR } from '../kubeadm/catalog.js';
import { planKubeconfigUpdate } from '../node/kubeconfig-update.js';
import { defaultUserKubeconfig, updateUserKubeconfig } from './kubeconfig.js';

/** The components that load the renewed files, in restart order. */
export function componentsToRestart(plan: RenewalPlan): Component[] {
  const used = new Set(plan.items.flatMap((item) => USED_BY[item.name] ?? []));
  return COMPONENTS.filter((c) => used.has(c));
}

/** The admin.conf was renewed: root's ~/.kube/config gets the new credentials if it holds this cluster's admin. */
export async function updateRootKubeconfig(host: Host, plan: RenewalPlan, kubeconfigDir = DEFAULT_KUBECONFIG_DIR): Promise<void> {
  if (!plan.items.some((i) => i.name === 'admin.conf')) return;
  try {
    await updateRootKubeconfigOrThrow(host, kubeconfigDir);
  } catch (err) {
    // the cluster is fine; only the convenience copy could not be updated
    log(`warning: ${(err as Error).message}`);
  }
}

async function updateRootKubeconfigOrThrow(host: Host, kubeconfigDir: string): Promise<void> {
  const to = defaultUserKubeconfig(host);
  if (!(await host.stat(to))) return;
  const from = posix.join(kubeconfigDir, 'admin.conf');
  const update = await planKubeconfigUpdate(host, from, to);
  if (update.added) {
    log(`${to} does not hold this cluster's admin credentials: left alone (kpki kubeconfig update --to ${to} adds them)`);
    return;
  }
  if (!update.write) return;
  const { lines } = await updateUserKubeconfig(host, from, to);
  log(`Updated ${to} with the renewed admin credentials (other clusters and contexts kept):\n${lines.join('\n')}`);
}

export async function bringIntoService(host: Host, plan: RenewalPlan, backup: BackupManifest, o: { strategy: StrategyName; timeoutMs: number; kubeconfigDir?: string }): Promise<number> {
  const services = await readServices(host, o.kubeconfigDir);
  const components = componentsToRestart(plan).filter((c) => c === 'kubelet' || services.pods.has(c));
  if (components.length === 0) {
    log('Nothing to restart: no running component loads what was renewed (kubeconfigs for people are read on each use).');
    await updateRootKubeconfig(host, plan, o.kubeconfigDir);
    return 0;
  }
  log(`Restarting ${components.join(', ')} (they load the renewed files)`);
  const options: RestartOptions = { strategy: o.strategy, timeoutMs: o.timeoutMs, kubeconfigDir: o.kubeconfigDir, log };
  const results = await restartComponents(host, services, components, options);
  const failed = results.find((r) => !r.ok);
  if (!failed) {
    log(`Done: ${results.filter((r) => !r.skipped).map((r) => r.component).join(', ') || 'nothing'} restarted and healthy with the renewed certificates.`);
    const skipped = results.filter((r) => r.skipped);
    for (const r of skipped) log(`Note: ${r.component}: ${r.skipped}`);
    await updateRootKubeconfig(host, plan, o.kubeconfigDir);
    return 0;
  }
  log(`\n${failed.component} did not become healthy with the renewed certificates: ${failed.detail}`);
  log(`Rolling back: restoring backup ${backup.id} and restarting ${results.map((r) => r.component).join(', ')} again`);
  await restoreFiles(host, backup);
  const again = await restartComponents(host, services, results.map((r) => r.component), options);
  if (again.every((r) => r.ok)) {
    log(`Rolled back: the node runs its previous certificates again and is healthy. The renewal was undone; fix the cause above and run again.`);
  } else {
    const bad = again.find((r) => !r.ok)!;
    log(`ROLLBACK INCOMPLETE: ${bad.component} is still not healthy after restoring backup ${backup.id}: ${bad.detail}`);
  }
  return 1;
}
