// The flags of a renewal run, shared by `timer run` (systemd on each node) and `agent` (in the cluster).
import type { Command } from 'commander';
import type { Host } from '../hosts/host.js';
import type { RenewalRunOptions } from '../automation/renewal-run.js';
import { defaultUserKubeconfig, GlobalOptions, log, scanOptionsOf } from './context.js';
import { durationFlag, strategyFlag, timeoutFlag } from './flags.js';
import { strategyOption } from './options.js';

export interface RunFlags {
  renewWithin: string;
  maxWait: string;
  strategy: string;
  timeout: string;
  retry: string;
}

/** The options a renewal run takes, for `timer run` and `agent`. */
export function withRunOptions(command: Command): Command {
  return command
    .option('--renew-within <duration>', 'renew what expires within this window', '30d')
    .option('--max-wait <duration>', 'wait this long at most for the cluster lock and a ready cluster', '45m')
    .addOption(strategyOption())
    .option('--timeout <duration>', 'how long each component may take to become healthy', '5m')
    .option('--retry <duration>', 'how often a waiting run tries the lock again', '10s');
}

export function runOptionsOf(opts: RunFlags, globals: GlobalOptions, host: Host): Omit<RenewalRunOptions, 'spacingMs'> {
  return {
    renewWithinMs: durationFlag('--renew-within', opts.renewWithin),
    maxWaitMs: durationFlag('--max-wait', opts.maxWait),
    retryMs: durationFlag('--retry', opts.retry),
    strategy: strategyFlag(opts.strategy),
    timeoutMs: timeoutFlag(opts.timeout),
    scan: scanOptionsOf(globals),
    rootKubeconfig: defaultUserKubeconfig(host),
    log,
  };
}
