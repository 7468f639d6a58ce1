// kpki renew -i and recover -i: a whole cluster (cluster/rollout.ts, cluster/recover.ts), with live progress, a report
// (text and JSON), and --update-kubeconfig for the operator's own kubeconfig.
import { copyFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { LocalHost } from '../hosts/local.js';
import { planKubeconfigUpdate } from '../node/kubeconfig/index.js';
import { UsageError } from '../errors.js';
import type { RolloutSettings } from '../cluster/rollout/journal.js';
import { rollout, RolloutOutcome } from '../cluster/rollout.js';
import { recoverCluster } from '../cluster/recover.js';
import type { Refusal, RolloutEvents } from '../cluster/outcome.js';
import { exitCodeOf, refusalOf } from './exit-codes.js';
import type { InventoryNode } from '../cluster/inventory/model.js';
import { liveProgress, plainProgress } from '../report/progress.js';
import { renderRolloutReport } from '../report/rollout.js';
import { confirm, GlobalOptions, inventoryNodesOf, scanOptionsOf } from './context.js';

export interface ClusterRenewFlags {
  yes?: boolean;
  force?: boolean;
  dryRun?: boolean;
  resume?: boolean;
  maxUnavailable: string;
  updateKubeconfig?: string | boolean;
  output?: string;
  report?: string;
}

/** The operator's kubeconfig: --update-kubeconfig FILE, else the first of $KUBECONFIG, else ~/.kube/config. */
export function operatorKubeconfig(flag: string | boolean | undefined): string {
  if (typeof flag === 'string') return flag;
  return process.env.KUBECONFIG?.split(':').find(Boolean) ?? join(homedir(), '.kube', 'config');
}

/** Merges the renewed admin credentials into the operator's kubeconfig: a backup copy beside it, an atomic write. */
async function updateOperatorKubeconfig(to: string, adminConf: string, from: string): Promise<string[]> {
  const local = new LocalHost('/');
  const update = await planKubeconfigUpdate(local, from, to, adminConf);
  const lines = [`${to} from ${from}:`, ...update.changes.map((c) => `  ${c}`)];
  const files = update.writes.filter((w) => w.kind === 'file');
  if (files.length === 0) return [...lines, '  nothing to change'];
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  for (const write of files) {
    if (await local.stat(write.path)) {
      const copy = `${write.path}.kpki-backup-${stamp}`;
      copyFileSync(write.path, copy);
      lines.push(`  the previous ${write.path} is kept as ${copy}`);
    }
    await local.mkdirp(dirname(write.path), 0o700);
    await local.writeFileAtomic(write.path, write.data, { mode: write.mode });
  }
  return lines;
}

/** What renew -i and recover -i share: progress, the operator's kubeconfig, the report (text, JSON file, JSON out). */
export interface ClusterRun {
  nodes: InventoryNode[];
  events: RolloutEvents;
  confirm: (question: string) => Promise<Refusal | undefined>;
  updateKubeconfig?: (adminConf: string, from: string) => Promise<string[]>;
  scan: ReturnType<typeof scanOptionsOf>;
  concurrency: number;
  acceptNewHostKeys: boolean;
  timeoutMs: number;
  maxUnavailable: number;
}

export async function runClusterOperation(
  globals: GlobalOptions,
  flags: ClusterRenewFlags,
  run: (c: ClusterRun) => Promise<RolloutOutcome>,
): Promise<number> {
  const maxUnavailable = Number(flags.maxUnavailable);
  if (!Number.isInteger(maxUnavailable) || maxUnavailable < 1)
    throw new UsageError(`--max-unavailable must be a whole number of workers, 1 or more (not "${flags.maxUnavailable}")`);
  const json = flags.output === 'json';
  const out = json ? process.stderr : process.stdout;
  const nodes = inventoryNodesOf(globals);
  const tty = Boolean(out.isTTY) && !process.env.KPKI_PLAIN_PROGRESS;
  const live = tty
    ? liveProgress(
        nodes.map((n) => ({ name: n.name, role: n.role })),
        out,
        !process.env.NO_COLOR,
      )
    : undefined;
  const { report } = await run({
    nodes,
    events: live ?? plainProgress((t) => out.write(t)),
    confirm: async (question) => {
      // the question goes below the plans; the live table starts again with the changes
      live?.pause();
      return refusalOf(await confirm(flags.yes, question));
    },
    updateKubeconfig: flags.updateKubeconfig
      ? (admin, from) => updateOperatorKubeconfig(operatorKubeconfig(flags.updateKubeconfig), admin, from)
      : undefined,
    scan: scanOptionsOf(globals),
    concurrency: globals.concurrency,
    acceptNewHostKeys: Boolean(globals.acceptNewHostKeys),
    timeoutMs: 15_000,
    maxUnavailable,
  });
  live?.stop();
  const code = exitCodeOf(report);
  // (a phase that continues is reported once, both steps in one report, when it has run again)
  if (report.result === 'continues') return code;
  if (report.result !== 'dry-run' && report.result !== 'nothing-to-do') out.write(`\n${renderRolloutReport(report)}`);
  if (flags.report) writeFileSync(flags.report, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o644 });
  if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return code;
}

export function renewCluster(
  globals: GlobalOptions,
  settings: Omit<RolloutSettings, 'maxUnavailable'>,
  flags: ClusterRenewFlags,
): Promise<number> {
  return runClusterOperation(globals, flags, (c) =>
    rollout(c.nodes, {
      ...c,
      settings: { ...settings, maxUnavailable: c.maxUnavailable },
      force: Boolean(flags.force),
      dryRun: Boolean(flags.dryRun),
      resume: Boolean(flags.resume),
    }),
  );
}

export function recoverClusterCommand(
  globals: GlobalOptions,
  settings: Omit<RolloutSettings, 'maxUnavailable'>,
  flags: ClusterRenewFlags,
): Promise<number> {
  return runClusterOperation(globals, flags, (c) =>
    recoverCluster(c.nodes, { ...c, settings: { ...settings, maxUnavailable: c.maxUnavailable }, dryRun: Boolean(flags.dryRun) }),
  );
}
