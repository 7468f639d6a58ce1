// kpki token create: a bootstrap token (Secret through the API) and the full `kubeadm join` command.
import { Command } from 'commander';
import { posix } from 'node:path';
import { parseKubeconfig } from '../kubeadm/kubeconfig.js';
import { KpkiError, UsageError } from '../errors.js';
import { scanNode } from '../node/scan/index.js';
import { caCertHash, createTokenSecret, newToken } from '../api/token.js';
import { action, globalsOf, hostOf, log, scanOptionsOf } from './context.js';
import { durationFlag } from './flags.js';

export function tokenCommand(): Command {
  const command = new Command('token').description('bootstrap tokens for kubeadm join');
  command
    .command('create')
    .description('create a bootstrap token through the API (admin.conf) and print it, or the whole join command')
    .option('--ttl <duration>', 'how long the token is valid', '24h')
    .option('--kubeconfig <file>', 'admin kubeconfig (node path)')
    .option('--print-join-command', 'print `kubeadm join ...` with --discovery-token-ca-cert-hash')
    .action(
      action(async (opts: { ttl: string; kubeconfig?: string; printJoinCommand?: boolean }, sub: Command) => {
        const globals = globalsOf(sub);
        const host = hostOf(globals);
        const scan = await scanNode(host, scanOptionsOf(globals));
        const path = opts.kubeconfig ?? posix.join(scan.kubeconfigDir, 'admin.conf');
        if (!(await host.stat(path))) throw new UsageError(`${host.describe(path)} does not exist: give --kubeconfig`);
        const text = (await host.readFile(path)).toString();
        const server = parseKubeconfig(text).server ?? '';
        const caEntry = scan.cas.find((c) => c.name === 'ca');
        const ca = caEntry?.cert;
        if (!ca) throw new KpkiError(`no cluster CA certificate found in ${host.describe(scan.certDir)}`);
        const token = newToken(durationFlag('--ttl', opts.ttl));
        try {
          await createTokenSecret(text, token, `created by kpki on ${host.name}`);
        } catch (err) {
          const e = err as { code?: number; body?: string; message?: string };
          throw new KpkiError(
            `the API server ${server} did not create the token: ${e.code ? `HTTP ${e.code} ` : ''}${e.message ?? e.body ?? String(err)}`,
          );
        }
        const value = `${token.id}.${token.secret}`;
        if (opts.printJoinCommand)
          // during a CA rotation ca.crt trusts old and new: kubeadm join accepts the CA if any pin matches
          log(
            `kubeadm join ${server.replace(/^https:\/\//, '')} --token ${value} ${[ca, ...(caEntry?.alsoTrusted ?? [])]
              .map((c) => `--discovery-token-ca-cert-hash ${caCertHash(c)}`)
              .join(' ')}`,
          );
        else log(value);
        return 0;
      }),
    );
  return command;
}
