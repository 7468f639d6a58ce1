// kpki backups / kpki restore: list what renewals saved, put it back byte for byte.
import { Command } from 'commander';
import { listBackups, readBackup, restoreFiles, createBackup } from '../node/backup.js';
import { acquireLock, recoverInterrupted } from '../node/apply.js';
import { renderColumns } from '../report/table.js';
import { action, globalsOf, hostOf } from './context.js';

export function backupsCommand(): Command {
  return new Command('backups')
    .description('list the backups kpki took on this node')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(
      action(async (opts: { output: string }, command: Command) => {
        const host = hostOf(globalsOf(command));
        const backups = await listBackups(host);
        if (opts.output === 'json') {
          process.stdout.write(`${JSON.stringify(backups, null, 2)}\n`);
          return 0;
        }
        if (backups.length === 0) {
          process.stdout.write('No backups.\n');
          return 0;
        }
        const rows = [['ID', 'CREATED', 'REASON', 'FILES']];
        for (const b of backups) rows.push([b.id, b.createdAt, b.reason, String(b.files.length)]);
        process.stdout.write(`${renderColumns(rows)}\n`);
        return 0;
      }),
    );
}

export function restoreCommand(): Command {
  return new Command('restore')
    .description('put back every file of a backup, byte-identical with its mode (takes a backup of the current files first)')
    .argument('<id>', 'backup id from `kpki backups`, or "latest"')
    .action(
      action(async (id: string, _opts: unknown, command: Command) => {
        const host = hostOf(globalsOf(command));
        const lock = await acquireLock(host);
        try {
          const recovered = await recoverInterrupted(host);
          if (recovered) process.stderr.write(`kpki: ${recovered}\n`);
          const backup = await readBackup(host, id);
          const before = await createBackup(host, backup.files.map((f) => f.path), `before restore of ${backup.id}`);
          await restoreFiles(host, backup);
          process.stdout.write(`Restored ${backup.files.length} file(s) from backup ${backup.id}; the replaced files are in backup ${before.id}\n`);
          return 0;
        } finally {
          await lock.release();
        }
      }),
    );
}
