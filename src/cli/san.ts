// kpki san add | remove: change the names a certificate is valid for (a new load-balancer name, a VIP, a renamed
// node), re-issued with the cluster CA, everything else kept, and recorded where kubeadm keeps them.
import { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { LocalHost } from '../hosts/local.js';
import { planRenewal, RenewalPlan, SanChange, splitSan } from '../node/renew/index.js';
import type { BackupManifest } from '../node/txn/index.js';
import { configEdits, kubeadmConfigWrites } from '../node/renew/index.js';
import { namesInUse } from '../node/renew/index.js';
import { scanNode } from '../node/scan/index.js';
import type { NodeScan } from '../node/scan/index.js';
import { renderNextSteps, renderPlan } from '../report/plan.js';
import { renewNode } from '../service/renew-node.js';
import { action, confirm, GlobalOptions, globalsOf, hostOf, log, requireLiveNode, scanOptionsOf } from './context.js';
import { strategyFlag, timeoutFlag } from './flags.js';
import type { ClusterRenewFlags } from './renew-cluster.js';
import { yesOption, dryRunOption, outputOption, strategyOption } from './options.js';

const CERTS = ['apiserver', 'etcd-server', 'etcd-peer'] as const;

interface SanFlags extends ClusterRenewFlags {
  cert: string;
  dryRun?: boolean;
  yes?: boolean;
  force?: boolean;
  restart?: boolean;
  strategy: string;
  timeout: string;
}

export function sanCommand(): Command {
  const command = new Command('san').description(
    'change the names (SANs) of the apiserver or etcd certificates, and record them for kubeadm',
  );
  for (const verb of ['add', 'remove'] as const) {
    command
      .command(verb)
      .description(
        verb === 'add'
          ? 'add names: DNS:lb.example.com IP:10.0.0.5 ...'
          : 'remove names (refused while a kubeconfig or the endpoint uses one, unless --force)',
      )
      .argument('<names...>', 'DNS:NAME or IP:ADDRESS')
      .option('--cert <name>', 'apiserver, etcd-server or etcd-peer', 'apiserver')
      .addOption(dryRunOption('print the plan, change nothing'))
      .addOption(yesOption())
      .option('--force', 'remove a name although something on the node still uses it')
      .option('--restart', 'then bring the certificate into service (restart what cannot reload it), verify, roll back on failure')
      .addOption(strategyOption('with --restart'))
      .option('--timeout <duration>', 'with --restart (always with -i): how long a component may take to become healthy', '5m')
      .option('--max-unavailable <n>', 'with --inventory: (workers are not touched; kept for the report)', '1')
      .addOption(outputOption(['text', 'json'], 'with --inventory: json prints the report as JSON on stdout'))
      .option('--report <file>', 'with --inventory: also write the report as JSON to this file')
      .action(action((names: string[], opts: SanFlags, sub: Command) => changeSans(verb, names, opts, sub)));
  }
  return command;
}

function sanChangeOf(verb: 'add' | 'remove', names: string[], cert: string): SanChange {
  if (!(CERTS as readonly string[]).includes(cert)) throw new UsageError(`--cert must be one of ${CERTS.join(', ')}`);
  const normal = names.map((n) => {
    const [kind, value] = splitSan(n);
    return `${kind}:${value}`;
  });
  return { cert: cert as SanChange['cert'], add: verb === 'add' ? normal : [], remove: verb === 'remove' ? normal : [] };
}

async function changeSans(verb: 'add' | 'remove', names: string[], opts: SanFlags, command: Command): Promise<number> {
  const globals = globalsOf(command);
  const host = hostOf(globals);
  const change = sanChangeOf(verb, names, opts.cert);
  if (globals.inventory) return sanOnCluster(globals, change, opts);
  const planOptions = { names: [change.cert], sans: change };
  if (opts.dryRun) {
    const scan = await scanNode(host, scanOptionsOf(globals));
    const plan = planRenewal(scan, { ...planOptions, now: new Date() });
    await show(host, scan, plan, change, opts);
    log('(dry run: nothing was changed)');
    return 0;
  }
  const restart = opts.restart ? { strategy: strategyFlag(opts.strategy), timeoutMs: timeoutFlag(opts.timeout) } : undefined;
  if (restart) requireLiveNode(host, 'san --restart');
  const run = await renewNode<number>(host, {
    scan: scanOptionsOf(globals),
    plan: planOptions,
    reason: `san ${verb}`,
    unpark: restart !== undefined,
    log: (line) => log(`kpki: ${line}`),
    alsoWrite: async (_plan, scan) => {
      return kubeadmConfigWrites(host, scan, configEdits({ sans: change }));
    },
    review: async (plan, scan) => {
      await show(host, scan, plan, change, opts);
      if (plan.items.length === 0) return 0;
      return confirm(opts.yes, `Re-issue ${change.cert} on ${host.name} with these names?`);
    },
    then: (result) => afterWrite(host, globals, result, restart),
  });
  return run.value ?? 0;
}

/**
 * -i: every control-plane node in turn, through the rollout (journal, backup, into service, node and cluster gates,
 * roll back and stop at a node that does not come back), the node's kubeadm config file and then the kubeadm-config
 * ConfigMap recording the names.
 */
async function sanOnCluster(globals: GlobalOptions, change: SanChange, opts: SanFlags): Promise<number> {
  const { runClusterOperation } = await import('./renew-cluster.js');
  const { rollout } = await import('../cluster/rollout.js');
  const settings = {
    names: [change.cert],
    work: { kind: 'san' as const, change },
    strategy: strategyFlag(opts.strategy),
    timeoutMs: timeoutFlag(opts.timeout),
  };
  return runClusterOperation(globals, opts, (c) =>
    rollout(c.nodes, {
      ...c,
      settings: { ...settings, maxUnavailable: c.maxUnavailable },
      force: false,
      forceNames: Boolean(opts.force),
      dryRun: Boolean(opts.dryRun),
      resume: false,
    }),
  );
}

/** The plan, the names before and after, where kubeadm will keep them; refuses to drop a name still in use. */
async function show(host: LocalHost, scan: NodeScan, plan: RenewalPlan, change: SanChange, opts: SanFlags): Promise<void> {
  log(renderPlan(plan).trimEnd());
  const item = plan.items[0];
  if (!item) {
    log(`${change.cert} already carries exactly these names: nothing to change.`);
    return;
  }
  const entry = scan.entries.find((e) => e.name === change.cert)!;
  const list = (s: { dnsNames: string[]; ipAddresses: string[] }) =>
    [...s.dnsNames.map((n) => `DNS:${n}`), ...s.ipAddresses.map((n) => `IP:${n}`)].join(', ');
  log(`${change.cert} names now:   ${list(entry.cert!)}`);
  log(`${change.cert} names after: ${list(item.sans!)}`);
  const [config] = await kubeadmConfigWrites(host, scan, configEdits({ sans: change }));
  log(
    config
      ? `Recorded for kubeadm in ${config.path} (${config.entry.split(' in ')[0]}).`
      : `No kubeadm config file on this node records the names: with -i, kpki san records them in the kubeadm-config ConfigMap; otherwise add them to ClusterConfiguration yourself before the next kubeadm upgrade.`,
  );
  const uses = namesInUse(scan, change);
  if (uses.length > 0 && !opts.force)
    throw new UsageError(`a name to remove is still in use:\n  ${uses.join('\n  ')}`, 'point those at another name first, or --force');
  if (uses.length > 0) log(`--force: removing names still in use:\n  ${uses.join('\n  ')}`);
}

async function afterWrite(
  host: LocalHost,
  globals: GlobalOptions,
  result: { plan: RenewalPlan; backup?: BackupManifest },
  restart?: { strategy: ReturnType<typeof strategyFlag>; timeoutMs: number },
): Promise<number> {
  const { plan, backup } = result;
  if (!backup) return 0;
  log(`Re-issued ${plan.items.map((i) => i.name).join(', ')}; backup ${backup.id} (undo with: kpki restore ${backup.id})`);
  if (!restart) {
    log(renderNextSteps(plan).trimEnd());
    return 0;
  }
  const { renewedIntoService } = await import('./renew-restart.js');
  return renewedIntoService(host, plan, backup, { ...restart, kubeconfigDir: globals.kubeconfigDir });
}
