// Recovering one node whose certificates had expired (`kpki recover` on the node): with expired certificates
// nothing was working, so nothing is spared: every component that runs here restarts in kubeadm's order, and
// root's kubeconfig gets the renewed credentials. etcd may stay unhealthy until a quorum of members is recovered:
// that is waited for only briefly and said, so that the operator goes on to the next node.
import type { Host } from '../hosts/host.js';
import { updateRootKubeconfig } from '../node/kubeconfig/index.js';
import { COMPONENTS, HealthCheck, nodeHealth, readServices, runsHere } from './health.js';
import { restartComponent, RestartResult } from './restart.js';
import type { StrategyName } from './strategies.js';

export interface NodeRecovery {
  results: RestartResult[];
  /** etcd runs with its renewed certificates but has no quorum yet: the next control-plane node must be recovered. */
  waitingForQuorum: boolean;
  checks: HealthCheck[];
  /** Every component came back (or waits only for etcd's quorum). */
  ok: boolean;
}

export async function restartEverything(
  host: Host,
  renewed: string[],
  o: { strategy: StrategyName; timeoutMs: number; kubeconfigDir?: string; rootKubeconfig: string; log: (line: string) => void },
): Promise<NodeRecovery> {
  const services = await readServices(host, o.kubeconfigDir);
  const results: RestartResult[] = [];
  let waitingForQuorum = false;
  for (const component of COMPONENTS.filter((c) => runsHere(services, c))) {
    // etcd gets at most 30 s: a member that runs but has no quorum (the other members' certificates are still
    // expired) answers "health: false" until the next node is recovered; waiting longer would not change that.
    const limit = component === 'etcd' ? Math.min(o.timeoutMs, 30_000) : o.timeoutMs;
    const result = await restartComponent(host, services, component, {
      strategy: o.strategy,
      timeoutMs: limit,
      kubeconfigDir: o.kubeconfigDir,
      log: o.log,
      skipHealth: waitingForQuorum,
    });
    results.push(result);
    if (!result.ok && component === 'etcd') {
      waitingForQuorum = true;
      o.log(
        'etcd: runs with the renewed certificates but is not healthy yet: most likely no quorum until the next control-plane node is recovered. Continuing without waiting for health.',
      );
    } else o.log(`${component}: ${result.skipped ? `skipped: ${result.skipped}` : result.ok ? result.detail : `FAILED: ${result.detail}`}`);
  }
  await updateRootKubeconfig(host, renewed, o.rootKubeconfig, o.log, o.kubeconfigDir);
  const checks = await nodeHealth(host, services, o.kubeconfigDir);
  const failed = results.filter((r) => !r.ok && !(waitingForQuorum && r.component !== 'kubelet'));
  return { results, waitingForQuorum, checks, ok: failed.length === 0 || waitingForQuorum };
}
