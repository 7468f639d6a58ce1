// kpki timer install | remove | status | run: automatic renewal that never restarts two control-plane nodes at once.
import { Command } from 'commander';
import { connectNode } from '../cluster/connect.js';
import { UsageError } from '../errors.js';
import { DEFAULT_BINARY, DEFAULT_CALENDAR, renderService, renderTimer, TimerOptions } from '../automation/timer-units.js';
import { renderColumns } from '../report/table.js';
import { analyzeCalendar } from '../automation/calendar.js';
import { renewalRun } from '../automation/renewal-run.js';
import { installTimer, removeTimer, timerStatus, TimerStatus } from '../automation/timer-install.js';
import type { Host } from '../hosts/host.js';
import { humanDuration } from '../util/duration.js';
import { isStandalone } from '../util/sea.js';
import { action, confirm, GlobalOptions, globalsOf, hostOf, inventoryNodesOf, log, requireLiveNode } from './context.js';
import { durationFlag } from './flags.js';
import { runOptionsOf, RunFlags, withRunOptions } from './run-flags.js';
import { yesOption, dryRunOption, outputOption } from './options.js';

const DAY = 86_400_000;

/** A span both systemd and kpki read: whole days, hours, minutes or seconds. */
function systemdSpan(ms: number): string {
  for (const [unit, size] of [
    ['d', DAY],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const)
    if (ms % size === 0) return `${ms / size}${unit}`;
  return `${Math.round(ms / 1000)}s`;
}

/** Runs fn on this node, or on every control-plane node of the inventory (workers have no CA key to renew with). */
async function onNodes(globals: GlobalOptions, fn: (host: Host) => Promise<void>): Promise<void> {
  if (!globals.inventory) return fn(hostOf(globals));
  for (const node of inventoryNodesOf(globals)) {
    if (node.role !== 'control-plane') {
      log(`${node.name}: a worker: no timer (its kubelet rotates its own certificate; kpki kubelet renew -i renews it from here)`);
      continue;
    }
    const host = await connectNode(node, { acceptNewHostKeys: Boolean(globals.acceptNewHostKeys), timeoutMs: 15_000 });
    try {
      await fn(host);
    } finally {
      host.close();
    }
  }
}

export function timerCommand(): Command {
  const command = new Command('timer').description(
    'automatic renewal by a systemd timer, serialized across the control plane by a lock in etcd',
  );
  addInstall(command);
  addRemove(command);
  addStatus(command);
  withRunOptions(
    command.command('run').description('what the timer runs: renew what expires within the window, holding the cluster lock in etcd'),
  )
    .option('--spacing <duration>', 'per-node slot spacing when etcd cannot be reached', '15m')
    .addHelpText(
      'after',
      '\nExit codes: 0 renewed or nothing to do, 1 failed (the node was rolled back), 75 waited too long: left to the next run.',
    )
    .action(
      action(async (opts: RunFlags & { spacing: string }, sub: Command) => {
        const globals = globalsOf(sub);
        const host = hostOf(globals);
        requireLiveNode(host, 'kpki timer run');
        return renewalRun(host, { ...runOptionsOf(opts, globals, host), spacingMs: durationFlag('--spacing', opts.spacing) });
      }),
    );
  return command;
}

type TimerInstallFlags = {
  onCalendar: string;
  renewWithin: string;
  maxWait: string;
  spacing: string;
  binary: string;
  copyBinary?: string;
  dryRun?: boolean;
  yes?: boolean;
};

/** The units' settings from the flags: a calendar systemd accepts, and a window that a missed run cannot outlast. */
function timerOptionsOf(opts: TimerInstallFlags): TimerOptions {
  const windowMs = durationFlag('--renew-within', opts.renewWithin);
  const maxWaitMs = durationFlag('--max-wait', opts.maxWait);
  const spacingMs = durationFlag('--spacing', opts.spacing);
  let calendar;
  try {
    calendar = analyzeCalendar(opts.onCalendar);
  } catch (err) {
    throw new UsageError(`--on-calendar: ${(err as Error).message}`);
  }
  if (calendar) {
    // like Kubespray's "next run + 7 days": a node that misses one run (rebooting, down) still renews in time
    const needed = 2 * calendar.intervalMs + DAY;
    if (windowMs < needed)
      throw new UsageError(
        `--renew-within ${opts.renewWithin} is too short for "${calendar.normalized}" (a run every ${humanDuration(calendar.intervalMs)}): a node that misses one run would let a certificate expire. Use at least ${Math.ceil(needed / DAY)}d.`,
      );
    log(
      `Runs ${calendar.normalized}; next ${calendar.next[0]?.toISOString() ?? '?'}. Window ${humanDuration(windowMs)}: a certificate is renewed at least ${Math.floor((windowMs - calendar.intervalMs) / DAY)} days before it expires, even after a missed run.`,
    );
  } else log('note: systemd-analyze is not on this machine: the calendar expression is checked by systemd on the node');
  return {
    binary: opts.binary,
    onCalendar: calendar?.normalized ?? opts.onCalendar,
    renewWithin: systemdSpan(windowMs),
    maxWait: systemdSpan(maxWaitMs),
    spacing: systemdSpan(spacingMs),
    timeoutStart: systemdSpan(maxWaitMs + 30 * 60_000),
  };
}

function addInstall(command: Command): void {
  command
    .command('install')
    .description('write and enable kpki-renew.service + kpki-renew.timer on this node (-i: every control-plane node)')
    .option(
      '--on-calendar <expr>',
      'when it runs (systemd OnCalendar; the same on every node: the etcd lock serializes them)',
      DEFAULT_CALENDAR,
    )
    .option('--renew-within <duration>', 'renew what expires within this window', '30d')
    .option('--max-wait <duration>', 'how long a run waits for another node to finish before leaving it to the next run', '45m')
    .option('--spacing <duration>', 'per-node slot spacing, used only when etcd cannot be reached', '15m')
    .option('--binary <command>', 'the kpki command on the node (the standalone executable)', DEFAULT_BINARY)
    .option('--copy-binary <file>', 'copy this file (the standalone executable from `npm run build:sea`) to --binary on the node first')
    .addOption(dryRunOption('print the units, change nothing'))
    .addOption(yesOption('install without asking'))
    .action(action(timerInstallAction));
}

async function timerInstallAction(opts: TimerInstallFlags, sub: Command): Promise<number> {
  const globals = globalsOf(sub);
  const options = timerOptionsOf(opts);
  if (opts.dryRun) {
    log(
      `# /etc/systemd/system/kpki-renew.service\n${renderService(options)}\n# /etc/systemd/system/kpki-renew.timer\n${renderTimer(options)}(dry run: nothing was changed)`,
    );
    return 0;
  }
  // the standalone executable installs itself where the units expect kpki, unless it already runs from there
  const copyBinary =
    opts.copyBinary ??
    (isStandalone() && process.execPath !== hostOf(globals).describe(opts.binary) && !opts.binary.includes(' ')
      ? process.execPath
      : undefined);
  if (copyBinary) log(`The kpki on the node${globals.inventory ? 's' : ''}: ${opts.binary} (copied from ${copyBinary})`);
  const refused = await confirm(opts.yes, `Install the renewal timer${globals.inventory ? ' on every control-plane node' : ''}?`);
  if (refused !== undefined) return refused;
  await onNodes(globals, async (host) => {
    const r = await installTimer(host, options, copyBinary);
    log(`${host.name}: wrote ${r.written.join(', ')} (backup ${r.backup})`);
    for (const line of r.systemd) log(`${host.name}: ${line}`);
  });
  return 0;
}

function addRemove(command: Command): void {
  command
    .command('remove')
    .description('disable and remove the renewal timer (a backup of the units is kept)')
    .action(action(timerRemoveAction));
}

async function timerRemoveAction(_opts: object, sub: Command): Promise<number> {
  await onNodes(globalsOf(sub), async (host) => {
    const r = await removeTimer(host);
    if (r.removed.length === 0) log(`${host.name}: no kpki timer installed`);
    else log(`${host.name}: removed ${r.removed.join(', ')} (backup ${r.backup}); ${r.systemd.join('; ')}`);
  });
  return 0;
}

function addStatus(command: Command): void {
  command
    .command('status')
    .description('installed? enabled? when it runs next; its last run and result')
    .addOption(outputOption(['table', 'json'], 'output format'))
    .action(action(timerStatusAction));
}

async function timerStatusAction(opts: { output: string }, sub: Command): Promise<number> {
  const rows: (TimerStatus & { node: string; next?: string })[] = [];
  await onNodes(globalsOf(sub), async (host) => {
    const s = await timerStatus(host);
    let next: string | undefined;
    try {
      next = s.onCalendar ? analyzeCalendar(s.onCalendar, 1)?.next[0]?.toISOString() : undefined;
    } catch {
      next = 'invalid calendar';
    }
    rows.push({ node: host.name, ...s, next });
  });
  if (opts.output === 'json') process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else {
    const table = [['NODE', 'INSTALLED', 'ENABLED', 'CALENDAR', 'NEXT RUN', 'LAST RUN', 'RESULT', 'DETAIL']];
    for (const r of rows)
      table.push([
        r.node,
        r.installed ? 'yes' : 'no',
        r.enabled ? 'yes' : 'no',
        r.onCalendar ?? '',
        r.next ?? '',
        r.state?.lastRunAt ?? 'never',
        r.state?.lastResult ?? '',
        r.state?.lastDetail ?? '',
      ]);
    log(renderColumns(table));
  }
  // 0 installed and its last run went well; 1 not installed or its last run failed
  return rows.every((r) => r.installed && r.state?.lastResult !== 'failure') ? 0 : 1;
}
