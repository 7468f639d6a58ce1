// kpki renew: plan, show, confirm, then back up and write atomically under the node lock.
import { Command } from 'commander';
import { scanNode } from '../node/scan/index.js';
import { PlanOptions, planRenewal } from '../node/renew/index.js';
import type { LocalHost } from '../hosts/local.js';
import { JOURNAL_PATH } from '../node/txn/index.js';
import { renderNextSteps, renderPlan } from '../report/plan.js';
import { action, confirm, GlobalOptions, globalsOf, hostOf, requireLiveNode, scanOptionsOf } from './context.js';
import { durationFlag, strategyFlag, timeoutFlag } from './flags.js';
import type { ClusterRenewFlags } from './renew-cluster.js';
import { renewNode } from '../service/renew-node.js';
import { configEdits, kubeadmConfigWrites } from '../node/renew/index.js';
import { yesOption, dryRunOption, outputOption, strategyOption } from './options.js';

interface RenewOptions extends ClusterRenewFlags {
  dryRun?: boolean;
  yes?: boolean;
  ifExpiresWithin?: string;
  validity?: string;
  reuseKeys?: boolean;
  keyAlgorithm?: string;
  restart?: boolean;
  force?: boolean;
  strategy: string;
  timeout: string;
  discardJournal?: boolean;
}

export function renewCommand(): Command {
  return new Command('renew')
    .description('renew certificates and kubeconfigs with the cluster CA, as kubeadm does, with backup and journal')
    .argument('[names...]', 'all, or kubeadm names (apiserver, etcd-peer, admin.conf, ...) and kubelet.conf / kubelet-client', ['all'])
    .addOption(dryRunOption('print the plan and change nothing'))
    .addOption(yesOption())
    .option('--if-expires-within <duration>', 'renew only what expires within this window (e.g. 30d)')
    .option('--validity <duration>', 'validity of the new certificates (default: certificateValidityPeriod, else 1y)')
    .option('--reuse-keys', 'keep the existing private keys')
    .option('--key-algorithm <alg>', 'new key algorithm: RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384')
    .option('--restart', 'then restart exactly the components that use what was renewed, verify, roll back on failure')
    .option('--no-restart', 'only write the files (the default)')
    .option(
      '--force',
      'accept a validity shorter than an hour; with --inventory: start even when the control plane is not healthy (recovery)',
    )
    .option('--resume', 'with --inventory: continue the rollout an interrupted run left (its journal on the nodes), with its settings')
    .option('--max-unavailable <n>', 'with --inventory: workers renewed at once', '1')
    .option(
      '--update-kubeconfig [file]',
      'with --inventory: then put the renewed admin credentials into your kubeconfig (default $KUBECONFIG or ~/.kube/config)',
    )
    .addOption(outputOption(['text', 'json'], 'with --inventory: json prints the rollout report as JSON on stdout (progress on stderr)'))
    .option('--report <file>', 'with --inventory: also write the rollout report as JSON to this file')
    .addOption(strategyOption('with --restart'))
    .option('--timeout <duration>', 'with --restart: how long each component may take to stop and to become healthy', '5m')
    .option('--discard-journal', 'drop the journal of an interrupted run whose backup is gone (look at `kpki check` first)')
    .action(action(renew));
}

async function renew(names: string[], opts: RenewOptions, command: Command): Promise<number> {
  const globals = globalsOf(command);
  const host = hostOf(globals);
  const planOptions = {
    names,
    ifExpiresWithinMs: opts.ifExpiresWithin ? durationFlag('--if-expires-within', opts.ifExpiresWithin) : undefined,
    validityMs: opts.validity ? durationFlag('--validity', opts.validity) : undefined,
    reuseKeys: opts.reuseKeys,
    keyAlgorithm: opts.keyAlgorithm,
    now: new Date(),
    allowShortValidity: opts.force,
  };
  if (globals.inventory) {
    const { ifExpiresWithinMs, validityMs, reuseKeys, keyAlgorithm } = planOptions;
    // (the cluster's code, SSH among it, loads only for -i)
    const { renewCluster } = await import('./renew-cluster.js');
    return renewCluster(
      globals,
      {
        names,
        ifExpiresWithinMs,
        validityMs,
        reuseKeys,
        keyAlgorithm,
        strategy: strategyFlag(opts.strategy),
        timeoutMs: timeoutFlag(opts.timeout),
        work: { kind: 'renew' },
      },
      opts,
    );
  }
  if (opts.dryRun) {
    if (await host.stat(JOURNAL_PATH))
      process.stderr.write('kpki: an interrupted run left a journal; the next real run rolls it back first\n');
    const plan = planRenewal(await scanNode(host, scanOptionsOf(globals)), planOptions);
    process.stdout.write(renderPlan(plan));
    process.stdout.write('(dry run: nothing was changed)\n');
    return 0;
  }
  return renewHere(host, globals, planOptions, opts);
}

/** On this node (or a mounted disk): plan, show, confirm, write; with --restart, into service. */
async function renewHere(
  host: LocalHost,
  globals: GlobalOptions,
  planOptions: Omit<PlanOptions, 'now'>,
  opts: RenewOptions,
): Promise<number> {
  const restart = opts.restart ? { strategy: strategyFlag(opts.strategy), timeoutMs: timeoutFlag(opts.timeout) } : undefined;
  if (restart) requireLiveNode(host, 'renew --restart');
  const say = (line: string) => process.stderr.write(`kpki: ${line}\n`);
  const run = await renewNode<number>(host, {
    scan: scanOptionsOf(globals),
    plan: planOptions,
    fixModes: true,
    // kubeadm 1.31+ (v1beta4) makes keys of encryptionAlgorithm: it follows --key-algorithm, in the same transaction
    alsoWrite: (_plan, scan) => kubeadmConfigWrites(host, scan, configEdits({ keyAlgorithm: planOptions.keyAlgorithm })),
    reason: 'renew',
    discardJournal: opts.discardJournal,
    unpark: restart !== undefined,
    log: say,
    review: async (plan, scan) => {
      process.stdout.write(renderPlan(plan));
      const [config] = plan.items.length
        ? await kubeadmConfigWrites(host, scan, configEdits({ keyAlgorithm: planOptions.keyAlgorithm }))
        : [];
      if (config)
        process.stdout.write(`Also records encryptionAlgorithm: ${planOptions.keyAlgorithm} in ${config.path}, so that kubeadm agrees.\n`);
      if (plan.items.length === 0 && plan.modeChanges.length === 0) {
        if (restart) process.stdout.write('Nothing was renewed, so nothing is restarted.\n');
        return 0;
      }
      const question = plan.items.length
        ? `Renew ${plan.items.length} certificate(s) on ${host.name}?`
        : `Make ${plan.modeChanges.length} key file(s) on ${host.name} readable by their owner only?`;
      return confirm(opts.yes, question);
    },
    then: async ({ plan, backup }) => {
      if (!backup) return 0;
      const modes = plan.modeChanges.length ? `; ${plan.modeChanges.length} key file(s) made readable by their owner only` : '';
      process.stdout.write(
        `Renewed ${plan.items.length} certificate(s)${modes}; backup ${backup.id} (undo with: kpki restore ${backup.id})\n`,
      );
      if (plan.items.length === 0) return 0;
      if (!restart) {
        process.stdout.write(renderNextSteps(plan));
        return 0;
      }
      const { renewedIntoService } = await import('./renew-restart.js');
      return renewedIntoService(host, plan, backup, { ...restart, kubeconfigDir: globals.kubeconfigDir });
    },
  });
  return run.value ?? 0;
}
