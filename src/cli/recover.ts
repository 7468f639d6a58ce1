// kpki recover: one command per control-plane node for a cluster whose certificates already expired. Renews every
// expired or soon-expiring certificate offline (no API server needed), restarts the components in order, waits for
// health where it can (etcd needs a quorum: the first node recovered waits for the next), updates root's kubeconfig,
// and says what was found, what was done, and what to do on the other nodes.
import { Command } from 'commander';
import type { NodeScan } from '../node/scan/index.js';
import { planRenewal, RenewalPlan } from '../node/renew/index.js';
import { scanNode } from '../node/scan/index.js';
import { kubeadmDate } from '../report/kubeadm-format.js';
import { renderPlan } from '../report/plan.js';
import { NodeRecovery, restartEverything } from '../service/recover-node.js';
import { renewNode } from '../service/renew-node.js';
import { renderColumns } from '../report/table.js';
import { action, defaultUserKubeconfig, globalsOf, hostOf, log, requireLiveNode, scanOptionsOf } from './context.js';
import { ClusterRenewFlags, recoverClusterCommand } from './renew-cluster.js';
import { durationFlag, strategyFlag, timeoutFlag } from './flags.js';
import { yesOption, dryRunOption, outputOption, strategyOption } from './options.js';

const DAY = 86_400_000;

export function recoverCommand(): Command {
  return new Command('recover')
    .description("bring back a node whose certificates expired: renew, restart in order, verify, update root's kubeconfig")
    .option('--if-expires-within <duration>', 'also renew what expires within this window', '30d')
    .addOption(strategyOption())
    .option('--timeout <duration>', 'how long each component may take to become healthy', '3m')
    .addOption(dryRunOption('say what was found and what would be done'))
    .addOption(yesOption('with --inventory: recover without asking'))
    .option('--max-unavailable <n>', 'with --inventory: workers renewed at once', '1')
    .option('--update-kubeconfig [file]', 'with --inventory: then put the renewed admin credentials into your kubeconfig')
    .addOption(outputOption(['text', 'json'], 'with --inventory: json prints the report as JSON on stdout'))
    .option('--report <file>', 'with --inventory: also write the report as JSON to this file')
    .option('--discard-journal', 'drop the journal of an interrupted run whose backup is gone (look at `kpki check` first)')
    .action(action(recover));
}

type RecoverFlags = {
  ifExpiresWithin: string;
  strategy: string;
  timeout: string;
  dryRun?: boolean;
  discardJournal?: boolean;
} & ClusterRenewFlags;

/** What expired on the node, and the plan. */
function found(node: string, scan: NodeScan, plan: RenewalPlan, now: Date): undefined {
  const expired = scan.entries.filter((e) => e.cert && e.cert.notAfter <= now);
  log(`Found on ${node} (${scan.role}):`);
  log(
    expired.length
      ? expired
          .map(
            (e) =>
              `  ${e.name}: expired ${kubeadmDate(e.cert!.notAfter)} (${Math.ceil((now.getTime() - e.cert!.notAfter.getTime()) / DAY)} days ago)`,
          )
          .join('\n')
      : '  no expired certificate',
  );
  process.stdout.write(renderPlan(plan));
  return undefined;
}

async function recover(opts: RecoverFlags, command: Command): Promise<number> {
  const globals = globalsOf(command);
  const host = hostOf(globals);
  const started = Date.now();
  const strategy = strategyFlag(opts.strategy);
  const timeoutMs = timeoutFlag(opts.timeout);
  const windowMs = durationFlag('--if-expires-within', opts.ifExpiresWithin);
  if (globals.inventory)
    return recoverClusterCommand(
      globals,
      { names: ['all'], ifExpiresWithinMs: windowMs, strategy, timeoutMs, work: { kind: 'recover' } },
      opts,
    );
  const planOptions = { names: ['all'], ifExpiresWithinMs: windowMs };
  if (opts.dryRun) {
    const now = new Date();
    const scan = await scanNode(host, scanOptionsOf(globals));
    found(host.name, scan, planRenewal(scan, { ...planOptions, now }), now);
    log(
      "Then: restart etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet in order; update root's kubeconfig.\n(dry run: nothing was changed)",
    );
    return 0;
  }
  requireLiveNode(host, 'kpki recover');
  const run = await renewNode<number>(host, {
    scan: scanOptionsOf(globals),
    plan: planOptions,
    reason: 'recover',
    discardJournal: opts.discardJournal,
    unpark: true,
    log: (line) => log(`kpki: ${line}`),
    review: async (plan, scan) => found(host.name, scan, plan, new Date()),
    then: async ({ plan, backup }) => {
      if (backup) log(`Renewed ${plan.items.length} certificate(s); backup ${backup.id} (undo with: kpki restore ${backup.id})`);
      const recovery = await restartEverything(
        host,
        plan.items.map((i) => i.name),
        { strategy, timeoutMs, kubeconfigDir: globals.kubeconfigDir, rootKubeconfig: defaultUserKubeconfig(host), log },
      );
      return renderRecovery(recovery, started);
    },
  });
  return run.value ?? 0;
}

/** What the recovery did, the node's health, and what to do on the other nodes. */
function renderRecovery(r: NodeRecovery, started: number): number {
  log(`\nHealth after ${((Date.now() - started) / 1000).toFixed(1)} s:`);
  log(
    renderColumns([
      ['COMPONENT', 'CHECK', 'STATUS', 'DETAIL'],
      ...r.checks.map((c) => [c.component, c.check, c.ok ? 'ok' : 'FAILED', c.detail]),
    ]),
  );
  log('\nNext steps:');
  if (r.waitingForQuorum || !r.checks.every((c) => c.ok))
    log(
      '  - run `kpki recover` on the next control-plane node; etcd (and the API server behind it) becomes healthy once a quorum of members is recovered',
    );
  else log('  - run `kpki recover` on every other control-plane node, one at a time');
  log(
    '  - on each worker: `kpki kubelet renew --ca-cert ca.crt --ca-key ca.key` (the CA from a control-plane node), or `kpki kubelet status` to see whether it needs it',
  );
  return r.ok ? 0 : 1;
}
