// kpki backups / kpki restore: list what renewals saved, put it back byte for byte; with -i on every node.
import { Command } from 'commander';
import { incompleteBackups, listBackups, readBackup } from '../node/txn/index.js';
import { applyPrune, planPrune } from '../node/txn/index.js';
import { UsageError } from '../errors.js';
import { durationFlag } from './flags.js';
import { restoreBackup } from '../node/txn/index.js';
import { withNodeLockUnless, withNodeLock, recoverInterrupted } from '../node/txn/index.js';
import { clusterBackups, pickBackup, restoreCluster } from '../cluster/backups.js';
import { renderColumns } from '../report/table.js';
import { action, clusterConnectOptions, confirm, globalsOf, GlobalOptions, hostOf, inventoryNodesOf } from './context.js';
import { yesOption, dryRunOption, outputOption } from './options.js';

const connectOptions = clusterConnectOptions;

export function backupsCommand(): Command {
  return new Command('backups')
    .description('list the backups kpki took on this node (-i: on every node)')
    .addOption(outputOption(['table', 'json'], 'output format'))
    .action(
      action(async (opts: { output: string }, command: Command) => {
        const globals = globalsOf(command);
        if (globals.inventory) {
          const all = await clusterBackups(inventoryNodesOf(globals), connectOptions(globals));
          if (opts.output === 'json')
            process.stdout.write(
              `${JSON.stringify(
                all.map((n) => ({ node: n.node.name, error: n.error, backups: n.backups })),
                null,
                2,
              )}\n`,
            );
          else {
            const rows = [['NODE', 'ID', 'CREATED', 'REASON', 'FILES']];
            for (const n of all) {
              if (n.error) rows.push([n.node.name, '-', '-', `UNREACHABLE: ${n.error}`, '']);
              for (const b of n.backups) rows.push([n.node.name, b.id, b.createdAt, b.reason, String(b.files.length)]);
            }
            process.stdout.write(`${renderColumns(rows)}\n`);
          }
          return all.some((n) => n.error) ? 3 : 0;
        }
        const host = hostOf(globals);
        const backups = await listBackups(host);
        const incomplete = await incompleteBackups(host);
        if (opts.output === 'json') {
          process.stdout.write(`${JSON.stringify([...backups, ...incomplete.map((id) => ({ id, incomplete: true }))], null, 2)}\n`);
          return 0;
        }
        if (backups.length + incomplete.length === 0) {
          process.stdout.write('No backups.\n');
          return 0;
        }
        const rows = [['ID', 'CREATED', 'REASON', 'FILES']];
        for (const b of backups) rows.push([b.id, b.createdAt, b.reason, String(b.files.length)]);
        for (const id of incomplete)
          rows.push([id, '-', 'INCOMPLETE: a run was killed while taking it (the next run, or kpki backups prune, removes it)', '-']);
        process.stdout.write(`${renderColumns(rows)}\n`);
        return 0;
      }),
    )
    .addCommand(pruneCommand());
}

function pruneCommand(): Command {
  return new Command('prune')
    .description(
      'remove old backups (they hold copies of private keys): beyond the newest N, or older than a duration, and incomplete ones',
    )
    .option('--keep <n>', 'keep the newest N backups')
    .option('--older-than <duration>', 'remove only backups older than this (e.g. 90d)')
    .addOption(dryRunOption('say what would be removed'))
    .addOption(yesOption('remove without asking'))
    .action(
      action(async (opts: { keep?: string; olderThan?: string; dryRun?: boolean; yes?: boolean }, command: Command) => {
        const globals = globalsOf(command);
        if (opts.keep === undefined && opts.olderThan === undefined)
          throw new UsageError('say what to keep: --keep N and/or --older-than DURATION');
        const keep = opts.keep === undefined ? undefined : Number(opts.keep);
        if (keep !== undefined && !(Number.isInteger(keep) && keep >= 0))
          throw new UsageError(`--keep: "${opts.keep}" is not a number of backups`);
        const host = hostOf(globals);
        return await withNodeLockUnless(opts.dryRun, host, async () => {
          const plan = await planPrune(host, {
            keep,
            olderThanMs: opts.olderThan ? durationFlag('--older-than', opts.olderThan) : undefined,
            now: new Date(),
          });
          for (const k of plan.kept) process.stdout.write(`keeping ${k.id}: ${k.why}\n`);
          if (plan.remove.length === 0) {
            process.stdout.write('Nothing to remove.\n');
            return 0;
          }
          process.stdout.write(
            `${renderColumns([['REMOVE', 'CREATED', 'REASON'], ...plan.remove.map((b) => [b.id, b.createdAt ?? '-', b.reason])])}\n`,
          );
          if (opts.dryRun) return 0;
          const refused = await confirm(opts.yes, `Remove ${plan.remove.length} backup(s) from ${host.name}?`);
          if (refused !== undefined) return refused;
          await applyPrune(host, plan);
          process.stdout.write(`Removed ${plan.remove.length} backup(s).\n`);
          return 0;
        });
      }),
    );
}

export function restoreCommand(): Command {
  return new Command('restore')
    .description('put back every file of a backup, byte-identical with its mode (takes a backup of the current files first)')
    .argument('<id>', 'backup id from `kpki backups`, or "latest"; with -i also a rollout id (each node\'s backup of that rollout)')
    .addOption(yesOption('with --inventory: restore without asking'))
    .option('--discard-journal', 'drop the journal of an interrupted run whose backup is gone (look at `kpki check` first)')
    .action(
      action(async (id: string, opts: { yes?: boolean; discardJournal?: boolean }, command: Command) => {
        const globals = globalsOf(command);
        if (globals.inventory) return restoreOnCluster(globals, id, opts.yes);
        const host = hostOf(globals);
        return await withNodeLock(host, async () => {
          const recovered = await recoverInterrupted(host, { discardJournal: opts.discardJournal });
          if (recovered) process.stderr.write(`kpki: ${recovered}\n`);
          const backup = await readBackup(host, id);
          const { replaced, changed } = await restoreBackup(host, backup);
          if (!replaced) process.stdout.write(`Every file of backup ${backup.id} is already as it has it: nothing to restore\n`);
          else
            process.stdout.write(`Restored ${changed} file(s) from backup ${backup.id}; the replaced files are in backup ${replaced.id}\n`);
          return 0;
        });
      }),
    );
}

async function restoreOnCluster(globals: GlobalOptions, id: string, yes?: boolean): Promise<number> {
  const all = await clusterBackups(inventoryNodesOf(globals), connectOptions(globals));
  const unreachable = all.filter((n) => n.error);
  if (unreachable.length) {
    process.stderr.write(`kpki: not restoring: unreachable: ${unreachable.map((n) => `${n.node.name} (${n.error})`).join(', ')}\n`);
    return 1;
  }
  const plan = all.map((n) => ({ node: n.node, backup: pickBackup(n.backups, id) }));
  if (!plan.some((p) => p.backup)) {
    process.stderr.write(`kpki: no node has a backup "${id}" (list them with kpki backups -i)\n`);
    return 1;
  }
  process.stdout.write(
    `${renderColumns([['NODE', 'BACKUP', 'CREATED', 'REASON', 'FILES'], ...plan.map((p) => [p.node.name, p.backup?.id ?? '(none: left alone)', p.backup?.createdAt ?? '', p.backup?.reason ?? '', p.backup ? String(p.backup.files.length) : ''])])}\n`,
  );
  const refused = await confirm(yes, `Restore these backups, one node at a time?`);
  if (refused !== undefined) return refused;
  const results = await restoreCluster(plan, {
    ...connectOptions(globals),
    log: (node, line) => process.stderr.write(`kpki: ${node}: ${line}\n`),
  });
  for (const r of results) process.stdout.write(`${r.node}: ${r.ok ? r.detail : `FAILED: ${r.detail}`}\n`);
  const ok = results.every((r) => r.ok) && results.length === plan.filter((p) => p.backup).length;
  if (ok) process.stdout.write('Files restored. Components that load them start using them after a restart (kpki restart on the node).\n');
  return ok ? 0 : 1;
}
