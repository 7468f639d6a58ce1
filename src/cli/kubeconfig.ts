// kpki kubeconfig update | user: users' kubeconfigs, without losing their other clusters and contexts.
import { Command } from 'commander';
import { posix } from 'node:path';
import { withNodeLockUnless, withNodeLock, applyWrites } from '../node/txn/index.js';
import { updateUserKubeconfig } from '../node/kubeconfig/index.js';
import { issueUserKubeconfig } from '../node/kubeconfig/index.js';
import { KUBECONFIG_MODE } from '../node/renew/index.js';
import { scanNode } from '../node/scan/index.js';
import { kubeadmDate } from '../report/kubeadm-format.js';
import { action, defaultUserKubeconfig, globalsOf, hostOf, scanOptionsOf } from './context.js';
import { durationFlag } from './flags.js';
import { dryRunOption } from './options.js';

/** ~/.kube/config of the user running kpki on a live node; root's on a mounted disk. */
export function kubeconfigCommand(): Command {
  const command = new Command('kubeconfig').description("users' kubeconfigs: update one from admin.conf, or issue a new one");
  command
    .command('update')
    .description("put a cluster kubeconfig's CA and client credentials into a user's kubeconfig, keeping every other cluster and context")
    .option('--from <file>', 'the renewed kubeconfig (node path)', '/etc/kubernetes/admin.conf')
    .option('--to <file>', "the user's kubeconfig (node path; default ~/.kube/config)")
    .addOption(dryRunOption('say what would change, change nothing'))
    .action(
      action(async (opts: { from: string; to?: string; dryRun?: boolean }, sub: Command) => {
        const host = hostOf(globalsOf(sub));
        const to = opts.to ?? defaultUserKubeconfig(host);
        return await withNodeLockUnless(opts.dryRun, host, async () => {
          const { lines, changed } = await updateUserKubeconfig(host, opts.from, to, { dryRun: opts.dryRun });
          process.stdout.write(`${host.describe(to)} from ${host.describe(opts.from)}:\n${lines.join('\n')}\n`);
          if (opts.dryRun) process.stdout.write('(dry run: nothing was changed)\n');
          else if (!changed) process.stdout.write('Nothing to change.\n');
          return 0;
        });
      }),
    );
  command
    .command('user')
    .description('issue a client kubeconfig signed by the cluster CA (like kubeadm kubeconfig user)')
    .argument('<name>', 'the user (certificate CN), e.g. kubernetes-super-admin')
    .option('--group <group...>', 'groups (certificate O), e.g. system:masters')
    .option('--validity <duration>', 'validity of the certificate', '8760h')
    .option('--server <url>', "API server URL (default: admin.conf's)")
    .option('--out <file>', 'write it there (node path, mode 0600, backed up if it exists) instead of printing it')
    .action(
      action(async (name: string, opts: { group?: string[]; validity: string; server?: string; out?: string }, sub: Command) => {
        const globals = globalsOf(sub);
        const host = hostOf(globals);
        const scan = await scanNode(host, scanOptionsOf(globals));
        const issued = await issueUserKubeconfig(host, scan, {
          name,
          groups: opts.group ?? [],
          validityMs: durationFlag('--validity', opts.validity),
          server: opts.server,
          now: new Date(),
        });
        if (issued.capped) process.stderr.write(`kpki: validity cut to the CA's own expiry (${kubeadmDate(issued.notAfter)})\n`);
        const out = opts.out;
        if (!out) {
          process.stdout.write(issued.text);
          return 0;
        }
        if ((await host.stat(out))?.type === 'symlink') throw new Error(`${host.describe(out)} is a symlink: not writing through it`);
        return await withNodeLock(host, async () => {
          await host.mkdirp(posix.dirname(out), 0o700);
          const { backup } = await applyWrites(
            host,
            [{ kind: 'file', path: out, data: issued.text, mode: KUBECONFIG_MODE, entry: out, format: 'kubeconfig' }],
            'kubeconfig user',
          );
          process.stdout.write(
            `Wrote ${host.describe(out)} for ${name}${opts.group?.length ? ` (groups ${opts.group.join(', ')})` : ''}, valid until ${kubeadmDate(issued.notAfter)}, server ${issued.server}; backup ${backup.id}\n`,
          );
          return 0;
        });
      }),
    );
  return command;
}
