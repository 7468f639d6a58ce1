// kpki inventory discover: write an inventory skeleton from what the API server knows about the nodes.
import { Command } from 'commander';
import { existsSync, writeFileSync } from 'node:fs';
import { discoverNodes, renderInventory } from '../api/discover.js';
import { KpkiError, UsageError } from '../errors.js';
import { apiAccessOf } from '../api/client.js';
import { describeNetworkError } from '../api/http.js';
import { action } from './context.js';
import { readRegularText } from '../util/read-file.js';

export function inventoryCommand(): Command {
  const command = new Command('inventory').description('kpki inventories');
  command
    .command('discover')
    .description('list the nodes (roles, addresses) through the API and write a kpki inventory skeleton')
    .requiredOption('--from <kubeconfig>', 'an admin kubeconfig on this machine (e.g. a copy of admin.conf)')
    .option('--out <file>', 'write it there instead of printing it (refuses to overwrite)')
    .option('--user <user>', 'SSH user for every node', 'root')
    .option('--key <file>', 'SSH private key for every node')
    .option('--sudo', 'the SSH user reaches root through sudo')
    .addHelpText('after', '\nThe global --known-hosts FILE goes into the inventory (default ~/.ssh/known_hosts).')
    .action(
      action(async (opts: { from: string; out?: string; user: string; key?: string; sudo?: boolean }, sub: Command) => {
        // --known-hosts is the global flag: here it goes into the inventory's defaults
        const knownHosts = (sub.optsWithGlobals() as { knownHosts?: string }).knownHosts ?? '~/.ssh/known_hosts';
        let text: string;
        try {
          text = readRegularText(opts.from);
        } catch (err) {
          throw new UsageError(`cannot read ${opts.from}: ${(err as Error).message}`);
        }
        let api;
        try {
          api = apiAccessOf(text);
        } catch (err) {
          throw new UsageError(`${opts.from}: ${(err as Error).message}`);
        }
        const nodes = await discoverNodes(api).catch((err: Error) => {
          throw new KpkiError(`cannot list the nodes through ${api.server}: ${describeNetworkError(err)}`, {
            hint: 'the API server must be reachable from this machine',
          });
        });
        if (nodes.length === 0) throw new KpkiError(`${api.server} lists no nodes`);
        const defaults: Record<string, unknown> = {
          user: opts.user,
          port: 22,
          ...(opts.key ? { key: opts.key } : {}),
          knownHosts,
          sudo: Boolean(opts.sudo),
        };
        const yaml = renderInventory(nodes, defaults, opts.from);
        if (!opts.out) {
          process.stdout.write(yaml);
          return 0;
        }
        if (existsSync(opts.out)) throw new UsageError(`${opts.out} exists: not overwriting it (remove it or choose another --out)`);
        writeFileSync(opts.out, yaml, { mode: 0o644, flag: 'wx' });
        process.stderr.write(
          `Wrote ${opts.out}: ${nodes.filter((n) => n.role === 'control-plane').length} control-plane node(s), ${nodes.filter((n) => n.role === 'worker').length} worker(s)\n`,
        );
        return 0;
      }),
    );
  return command;
}
