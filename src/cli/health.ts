// kpki health: the node's components as the kubelet probes them, plus certificate-proving checks; with -i every node
// of the cluster and etcd as it sees itself.
import { Command } from 'commander';
import { nodeHealth, readServices } from '../service/health.js';
import { clusterHealth } from '../cluster/health.js';
import { renderColumns } from '../report/table.js';
import {
  action,
  clusterConnectOptions,
  GlobalOptions,
  globalsOf,
  hostOf,
  inventoryNodesOf,
  requireLiveNode,
  scanOptionsOf,
} from './context.js';
import { outputOption } from './options.js';

export function healthCommand(): Command {
  return new Command('health')
    .description("health of this node's etcd, kube-apiserver, controller-manager, scheduler and kubelet, with reasons (-i: every node)")
    .addOption(outputOption(['table', 'json'], 'output format'))
    .addHelpText('after', '\nExit codes: 0 all healthy, 2 something is not, 3 nothing to check or a node could not be reached.')
    .action(
      action(async (opts: { output: string }, command: Command) => {
        const globals = globalsOf(command);
        if (globals.inventory) return healthOfCluster(globals, opts.output);
        const host = hostOf(globals);
        requireLiveNode(host, 'kpki health');
        const checks = await nodeHealth(host, await readServices(host, globals.kubeconfigDir), globals.kubeconfigDir);
        if (opts.output === 'json') process.stdout.write(`${JSON.stringify({ node: host.name, checks }, null, 2)}\n`);
        else if (checks.length === 0) process.stdout.write('No control-plane component or kubelet found on this node.\n');
        else {
          const rows = [
            ['COMPONENT', 'CHECK', 'STATUS', 'DETAIL'],
            ...checks.map((c) => [c.component, c.check, c.ok ? 'ok' : 'FAILED', c.detail]),
          ];
          process.stdout.write(`${renderColumns(rows)}\n`);
        }
        if (checks.length === 0) return 3;
        return checks.every((c) => c.ok) ? 0 : 2;
      }),
    );
}

async function healthOfCluster(globals: GlobalOptions, output: string): Promise<number> {
  const health = await clusterHealth(inventoryNodesOf(globals), scanOptionsOf(globals), {
    ...clusterConnectOptions(globals),
    onNotice: (line) => process.stderr.write(`kpki: ${line}\n`),
  });
  if (output === 'json') {
    process.stdout.write(
      `${JSON.stringify({ nodes: health.nodes.map((n) => ({ node: n.node.name, address: n.node.address, role: n.node.role, error: n.error, checks: n.checks })), etcd: health.etcd }, null, 2)}\n`,
    );
  } else {
    const rows = [['NODE', 'COMPONENT', 'CHECK', 'STATUS', 'DETAIL']];
    for (const n of health.nodes) {
      if (n.error) rows.push([n.node.name, '-', 'ssh', 'UNREACHABLE', n.error]);
      for (const c of n.checks) rows.push([n.node.name, c.component, c.check, c.ok ? 'ok' : 'FAILED', c.detail]);
    }
    process.stdout.write(`${renderColumns(rows)}\n`);
    if (health.etcd.members.length) {
      process.stdout.write(
        `\n${renderColumns([['ETCD MEMBER', 'STATUS', 'LEADER', 'RAFT INDEX', 'DETAIL'], ...health.etcd.members.map((m) => [m.name, m.healthy ? 'ok' : 'FAILED', m.leader ?? '', String(m.raftIndex ?? ''), m.detail])])}\n`,
      );
    }
    for (const p of health.etcd.problems) process.stdout.write(`etcd: ${p}\n`);
  }
  if (health.nodes.some((n) => n.error)) return 3;
  const bad = health.nodes.some((n) => n.checks.some((c) => !c.ok)) || health.etcd.problems.length > 0;
  return bad ? 2 : 0;
}
