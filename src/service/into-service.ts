// After renewed files are written: bring them into service. Components that re-read their certificates by themselves
// (etcd for its serving and peer certificates, kube-apiserver for its serving certificate) are only verified to serve
// the new ones; the rest are restarted in kubeadm's order with health gates. If a component does not come back, the
// backup is put back, the components restarted again and verified: the node is never left worse than before.
import type { Host } from '../hosts/host.js';
import { catalogNameOf, componentsUsingCertificate } from '../kubeadm/catalog.js';
import type { BackupManifest } from '../node/txn/index.js';
import { restoreBackup } from '../node/txn/index.js';
import { Component, COMPONENTS, readServices, runsHere, waitHealthy } from './health.js';
import { restartComponents, RestartOptions } from './restart.js';
import type { StrategyName } from './strategies.js';
import { waitServesFiles } from './served.js';

/** What each component re-reads by itself, without a restart (everything else it loads only at start). */
const RELOADS_BY_ITSELF: Partial<Record<Component, string[]>> = {
  // etcd re-reads --cert-file and --peer-cert-file on every new TLS handshake (Kubespray's member-<host>.pem is both)
  etcd: ['etcd-server', 'etcd-peer'],
  // kube-apiserver (1.17+) watches its serving certificate; its client certificates (etcd, kubelet, front-proxy) need a restart
  'kube-apiserver': ['apiserver'],
};
const SERVE_WAIT_MS: Partial<Record<Component, number>> = { etcd: 10_000, 'kube-apiserver': 90_000 };

/**
 * What was written on a node, as bringing it into service needs it: the renewed certificates (catalog names), and the
 * components to restart although none of their certificates changed (they read a changed CA bundle only at start: a
 * CA rotation).
 */
export interface Written {
  renewed: string[];
  restart?: Component[];
}

/** The components that load the renewed files, in restart order. */
export function componentsUsing(written: Written): Component[] {
  const used = new Set([...written.renewed.flatMap(componentsUsingCertificate), ...(written.restart ?? [])]);
  return COMPONENTS.filter((c) => used.has(c));
}

/** A component whose renewed files are all ones it re-reads by itself. */
export function reloadsByItself(component: Component, written: Written): boolean {
  if (written.restart?.includes(component)) return false;
  const own = written.renewed.filter((name) => componentsUsingCertificate(name).includes(component));
  return own.length > 0 && own.every((name) => RELOADS_BY_ITSELF[component]?.includes(catalogNameOf(name)));
}

export interface IntoServiceOptions {
  strategy: StrategyName;
  timeoutMs: number;
  kubeconfigDir?: string;
  log: (line: string) => void;
  /** Components an interrupted run already brought into service (resume): not restarted again. */
  done?: Component[];
  /** Called when a component serves the renewed files (journal for --resume). */
  onInService?: (component: Component) => Promise<void>;
}

export interface IntoServiceResult {
  ok: boolean;
  restarted: Component[];
  reloaded: Component[];
  notes: string[];
  /** Set when a component failed: the backup was restored; rollbackOk says whether the old state is healthy. */
  failure?: { component: Component; detail: string; rollbackOk: boolean; rollbackDetail?: string };
}

export async function bringIntoService(
  host: Host,
  written: Written,
  backup: BackupManifest,
  o: IntoServiceOptions,
): Promise<IntoServiceResult> {
  const services = await readServices(host, o.kubeconfigDir);
  const done = new Set(o.done ?? []);
  const components = componentsUsing(written).filter((c) => runsHere(services, c) && !done.has(c));
  const result: IntoServiceResult = { ok: true, restarted: [], reloaded: [], notes: [] };
  const toRestart: Component[] = [];
  for (const c of components) {
    if (reloadsByItself(c, written)) {
      const stale = await waitServesFiles(host, services, c, SERVE_WAIT_MS[c] ?? 10_000);
      const healthy = stale.length === 0 && (await waitHealthy(host, services, c, 10_000, o.kubeconfigDir)).ok;
      if (healthy) {
        o.log(`${c}: serves the renewed certificates without a restart (it re-reads them by itself)`);
        result.reloaded.push(c);
        await o.onInService?.(c);
        continue;
      }
      o.log(`${c}: does not serve the renewed certificates by itself (${stale.join('; ') || 'not healthy'}): restarting it`);
    }
    toRestart.push(c);
  }
  if (toRestart.length === 0) {
    if (components.length === 0)
      o.log('Nothing to restart: no running component loads what was renewed (kubeconfigs for people are read on each use).');
    return result;
  }
  o.log(`Restarting ${toRestart.join(', ')} (they load the renewed files only at start)`);
  const options: RestartOptions = { strategy: o.strategy, timeoutMs: o.timeoutMs, kubeconfigDir: o.kubeconfigDir, log: o.log };
  const results = [];
  for (const c of toRestart) {
    const [r] = await restartComponents(host, services, [c], options);
    results.push(r);
    if (!r.ok) break;
    if (r.skipped) result.notes.push(`${c}: ${r.skipped}`);
    else result.restarted.push(c);
    await o.onInService?.(c);
  }
  const failed = results.find((r) => !r.ok);
  if (!failed) return result;
  result.ok = false;
  o.log(`\n${failed.component} did not become healthy with the renewed certificates: ${failed.detail}`);
  const rollback = await rollBack(host, written, backup, { ...o, restarted: results.map((r) => r.component), reloaded: result.reloaded });
  result.failure = { component: failed.component, detail: failed.detail, rollbackOk: rollback.ok, rollbackDetail: rollback.detail };
  return result;
}

/**
 * Puts the backup back and brings the old files into service again: what was restarted (by default everything that
 * uses the renewed files) is restarted, what reloads by itself is verified to serve the old files. ok: healthy again.
 */
export async function rollBack(
  host: Host,
  written: Written,
  backup: BackupManifest,
  o: IntoServiceOptions & { restarted?: Component[]; reloaded?: Component[] },
): Promise<{ ok: boolean; detail?: string }> {
  const services = await readServices(host, o.kubeconfigDir);
  const running = componentsUsing(written).filter((c) => runsHere(services, c));
  const reloaded = o.reloaded ?? running.filter((c) => reloadsByItself(c, written));
  const restart = o.restarted ?? running.filter((c) => !reloaded.includes(c));
  o.log(`Rolling back: restoring backup ${backup.id}${restart.length ? ` and restarting ${restart.join(', ')} again` : ''}`);
  await restoreBackup(host, backup, `rollback to ${backup.id}`);
  const options: RestartOptions = { strategy: o.strategy, timeoutMs: o.timeoutMs, kubeconfigDir: o.kubeconfigDir, log: o.log };
  const second = await restartComponents(host, services, restart, options);
  let bad = second.find((r) => !r.ok) as { component: Component; detail: string } | undefined;
  // what reloads by itself goes back to the restored files by itself too: verified, not restarted
  for (const c of reloaded) {
    const stale = bad ? [] : await waitServesFiles(host, services, c, SERVE_WAIT_MS[c] ?? 10_000);
    if (stale.length > 0) bad = { component: c, detail: stale.join('; ') };
  }
  if (!bad)
    o.log(
      'Rolled back: the node runs its previous certificates again and is healthy. The renewal was undone; fix the cause above and run again.',
    );
  else o.log(`ROLLBACK INCOMPLETE: ${bad.component} is still not healthy after restoring backup ${backup.id}: ${bad.detail}`);
  return { ok: !bad, detail: bad ? `${bad.component}: ${bad.detail}` : undefined };
}
