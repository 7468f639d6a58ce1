// Restarts components on one node in kubeadm's order (etcd → kube-apiserver → controller-manager → scheduler →
// kubelet), each waiting for health before the next; stops at the first component that does not come back.
import type { Host } from '../hosts/host.js';
import { KpkiError } from '../errors.js';
import { releaseHeldLocks } from '../node/txn/index.js';
import { COMPONENTS, Component, HealthCheck, NodeServices, waitDown, waitHealthy } from './health.js';
import { parkManifest, unparkManifest } from './parked.js';
import { ConcreteStrategy, crictlCommands, detectStrategy, dockerCommands, StrategyName, systemdCommands } from './strategies.js';

export interface RestartOptions {
  strategy: StrategyName;
  timeoutMs: number;
  kubeconfigDir?: string;
  log: (line: string) => void;
  /** Restart without waiting for health (recovery: what depends on an etcd without quorum cannot be healthy yet). */
  skipHealth?: boolean;
}

export interface RestartResult {
  component: Component;
  strategy?: ConcreteStrategy;
  ok: boolean;
  skipped?: string;
  detail: string;
  checks: HealthCheck[];
}

/** Test hook: SIGKILL this process at a chosen point, to prove the next run repairs it. */
function crashPoint(name: string): void {
  if (process.env.KPKI_TEST_CRASH_AT === name) process.kill(process.pid, 'SIGKILL');
}

/** Test hook: a signal to this process at a chosen point (KPKI_TEST_SIGNAL_AT=name), as Ctrl-C would send it then. */
function signalPoint(name: string): void {
  if (process.env.KPKI_TEST_SIGNAL_AT === name) process.kill(process.pid, 'SIGINT');
}

/**
 * The node said no to a restart (systemctl, crictl or docker exited non-zero; a unit that fails to start): the
 * component did not come back, as one that is not healthy after it. A lost connection is not this: it interrupts.
 */
class RestartRefused extends KpkiError {}

async function run(host: Host, argv: string[]): Promise<string> {
  const r = await host.exec(argv, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new RestartRefused(`\`${argv.join(' ')}\` failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/**
 * Moves the manifest out, waits until the component is really down, moves it back; never loses the manifest. Ctrl-C or
 * SIGTERM at any moment, even while the manifest is being moved out, puts it back (once: the signal and the normal path
 * share one put-back) and releases the node lock before kpki exits.
 */
async function manifestRestart(host: Host, services: NodeServices, component: Component, o: RestartOptions): Promise<void> {
  const pod = services.pods.get(component)!;
  const parking = parkManifest(host, pod.path!);
  let puttingBack: Promise<void> | undefined;
  const putBack = () => {
    puttingBack ??= parking.then((entry) => unparkManifest(host, entry));
    return puttingBack;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    void putBack()
      .catch((err) => process.stderr.write(`kpki: could not put the ${component} manifest back: ${(err as Error).message}\n`))
      .then(releaseHeldLocks)
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  signalPoint('manifest-parking'); // while the manifest is being moved out
  try {
    const entry = await parking;
    crashPoint('manifest-parked');
    o.log(`  ${component}: manifest moved to ${entry.to}; waiting for the kubelet to stop it`);
    if (!(await waitDown(services, component, o.timeoutMs)))
      throw new RestartRefused(
        `${component} still answers ${o.timeoutMs / 1000} s after its manifest was moved out (is the kubelet running?)`,
      );
  } finally {
    try {
      await putBack(); // a signal meanwhile waits for this same put-back, then exits
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  }
  o.log(`  ${component}: stopped; manifest back in ${pod.path}`);
}

async function runtimeRestart(host: Host, services: NodeServices, component: Component, strategy: 'crictl' | 'docker'): Promise<void> {
  const pod = services.pods.get(component)!;
  const list = strategy === 'crictl' ? crictlCommands(component, [])[0] : dockerCommands(pod.containerName, [])[0];
  const ids = (await run(host, list)).split(/\s+/).filter(Boolean);
  if (ids.length === 0) throw new RestartRefused(`\`${list.join(' ')}\` found no ${component} to restart`);
  for (const argv of strategy === 'crictl' ? crictlCommands(component, ids) : dockerCommands(pod.containerName, ids)) await run(host, argv);
}

export async function restartComponent(
  host: Host,
  services: NodeServices,
  component: Component,
  o: RestartOptions,
): Promise<RestartResult> {
  const chosen =
    o.strategy === 'auto'
      ? await detectStrategy(host, services, component)
      : { strategy: o.strategy as ConcreteStrategy, why: 'asked for' };
  if (!chosen.strategy) return { component, ok: true, skipped: chosen.why, detail: chosen.why, checks: [] };
  const strategy = chosen.strategy;
  if (strategy === 'systemd' && !(await host.stat('/run/systemd/system'))) {
    const why = `systemd is not running on ${host.name}: restart ${component} yourself (systemctl restart ${component})`;
    return { component, strategy, ok: true, skipped: why, detail: why, checks: [] };
  }
  if (strategy !== 'systemd' && !services.pods.has(component))
    throw new KpkiError(`${component} has no static pod manifest on ${host.name}: use --strategy systemd`);
  o.log(`${component}: restarting with ${strategy} (${chosen.why})`);
  const started = Date.now();
  try {
    if (strategy === 'manifest') await manifestRestart(host, services, component, o);
    else if (strategy === 'systemd') await run(host, systemdCommands(component)[0]);
    else await runtimeRestart(host, services, component, strategy);
  } catch (err) {
    if (!(err instanceof RestartRefused)) throw err;
    return { component, strategy, ok: false, checks: [], detail: `the restart failed: ${err.message}` };
  }
  if (o.skipHealth) return { component, strategy, ok: true, checks: [], detail: 'restarted (not waiting for health)' };
  const health = await waitHealthy(host, services, component, Math.max(1000, o.timeoutMs - (Date.now() - started)), o.kubeconfigDir);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const failing = health.checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.detail}`);
  return {
    component,
    strategy,
    ok: health.ok,
    checks: health.checks,
    detail: health.ok ? `healthy ${seconds} s after the restart` : `not healthy after ${seconds} s: ${failing.join('; ')}`,
  };
}

/** Restarts the components in order; stops at the first one that does not become healthy. */
export async function restartComponents(
  host: Host,
  services: NodeServices,
  components: Component[],
  o: RestartOptions,
): Promise<RestartResult[]> {
  const results: RestartResult[] = [];
  for (const component of COMPONENTS.filter((c) => components.includes(c))) {
    const result = await restartComponent(host, services, component, o);
    results.push(result);
    o.log(`${component}: ${result.skipped ? `skipped: ${result.skipped}` : result.ok ? result.detail : `FAILED: ${result.detail}`}`);
    if (!result.ok) break;
  }
  return results;
}
