// kpki health: the node's components as the kubelet probes them, plus certificate-proving checks.
import { Command } from 'commander';
import { nodeHealth, readServices } from '../service/health.js';
import { renderColumns } from '../report/table.js';
import { action, globalsOf, hostOf } from './context.js';
import { requireLiveNode } from './service.js';

export function healthCommand(): Command {
  return new Command('health')
    .description("health of this node's etcd, kube-apiserver, controller-manager, scheduler and kubelet, with reasons")
    .option('-o, --output <format>', 'table or json', 'table')
    .action(
      action(async (opts: { output: string }, command: Command) => {
        const globals = globalsOf(command);
        const host = hostOf(globals);
        requireLiveNode(host, 'kpki health');
        const checks = await nodeHealth(host, await readServices(host, globals.kubeconfigDir), globals.kubeconfigDir);
        if (opts.output === 'json') process.stdout.write(`${JSON.stringify({ node: host.name, checks }, null, 2)}\n`);
        else if (checks.length === 0) process.stdout.write('No control-plane component or kubelet found on this node.\n');
        else {
          const rows = [['COMPONENT', 'CHECK', 'STATUS', 'DETAIL'], ...checks.map((c) => [c.component, c.check, c.ok ? 'ok' : 'FAILED', c.detail])];
          process.stdout.write(`${renderColumns(rows)}\n`);
        }
        if (checks.length === 0) return 3;
        return checks.every((c) => c.ok) ? 0 : 2;
      }),
    );
}
