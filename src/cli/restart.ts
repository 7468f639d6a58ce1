// kpki restart: restart components the right way for this node, in order, each waiting for health.
import { Command } from 'commander';
import { withNodeLock } from '../node/txn/index.js';
import { COMPONENTS, readServices, runsHere } from '../service/health.js';
import { restoreParked } from '../service/parked.js';
import { restartComponents } from '../service/restart.js';
import { action, globalsOf, hostOf, log, requireLiveNode } from './context.js';
import { componentsFlag, strategyFlag, timeoutFlag } from './flags.js';
import { strategyOption } from './options.js';

export function restartCommand(): Command {
  return new Command('restart')
    .description(
      'restart etcd, kube-apiserver, kube-controller-manager, kube-scheduler (default: those on this node) or the kubelet, in order, waiting for health',
    )
    .argument('[components...]', `any of ${COMPONENTS.join(', ')}`)
    .addOption(strategyOption())
    .option('--timeout <duration>', 'how long each component may take to stop and to become healthy', '5m')
    .action(
      action(async (names: string[], opts: { strategy: string; timeout: string }, command: Command) => {
        const globals = globalsOf(command);
        const host = hostOf(globals);
        requireLiveNode(host, 'kpki restart');
        const strategy = strategyFlag(opts.strategy);
        const timeoutMs = timeoutFlag(opts.timeout);
        return await withNodeLock(host, async () => {
          for (const line of await restoreParked(host)) log(`kpki: ${line}`);
          const services = await readServices(host, globals.kubeconfigDir);
          const components = names.length > 0 ? componentsFlag(names) : COMPONENTS.filter((c) => c !== 'kubelet' && runsHere(services, c));
          if (components.length === 0) {
            log('No control-plane component runs here as a static pod or as etcd.service; name the components to restart.');
            return 0;
          }
          const results = await restartComponents(host, services, components, {
            strategy,
            timeoutMs,
            kubeconfigDir: globals.kubeconfigDir,
            log,
          });
          return results.every((r) => r.ok) ? 0 : 1;
        });
      }),
    );
}
