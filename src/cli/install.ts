// kpki install: put the standalone executable on the node's PATH, and link it as a kubectl plugin
// (kubectl-kpki, so that `kubectl kpki check` works). With npm, `npm install -g kpki` links both instead.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { withNodeLock, applyWrites } from '../node/txn/index.js';
import { UsageError } from '../errors.js';
import { isStandalone } from '../util/sea.js';
import { action, globalsOf, hostOf, log } from './context.js';

export function installCommand(): Command {
  return new Command('install')
    .description('install this standalone kpki as DIR/kpki and DIR/kubectl-kpki (a kubectl plugin)')
    .option('--dir <dir>', 'where (node path)', '/usr/local/bin')
    .option('--from <file>', 'the standalone executable to install (default: this one)')
    .action(
      action(async (opts: { dir: string; from?: string }, command: Command) => {
        const host = hostOf(globalsOf(command));
        const source = opts.from ?? (isStandalone() ? process.execPath : undefined);
        if (!source)
          throw new UsageError(
            'this kpki runs from dist/kpki.js, not the standalone executable: build it (npm run build:sea) and give --from dist/kpki-linux-x64, or use npm install -g kpki (it links kpki and kubectl-kpki)',
          );
        const target = posix.join(opts.dir, 'kpki');
        const plugin = posix.join(opts.dir, 'kubectl-kpki');
        await withNodeLock(host, async () => {
          await host.mkdirp(opts.dir, 0o755);
          const { backup } = await applyWrites(
            host,
            [
              { kind: 'file', path: target, data: readFileSync(source), mode: 0o755, entry: 'kpki', format: 'binary' },
              { kind: 'symlink', path: plugin, target: 'kpki', entry: 'kubectl-kpki' },
            ],
            'install',
          );
          log(
            `Installed ${host.describe(target)} and ${host.describe(plugin)} -> kpki (backup ${backup.id}): kpki check, kubectl kpki check`,
          );
        });
        return 0;
      }),
    );
}
