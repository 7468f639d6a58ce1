// kpki command line: global flags, then one file per command. main.ts (npm) and sea.ts (the standalone binary) run it.
import { Command, InvalidArgumentError } from 'commander';
import { commandOf, COMMANDS } from './commands.js';

/** --concurrency: a whole number, 1 or more, or a usage error at parse time. */
function positiveWholeNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('a whole number, 1 or more');
  return n;
}

export async function run(argv: string[]): Promise<void> {
  const program = new Command(argv.slice(0, 2).some((a) => a?.endsWith('kubectl-kpki')) ? 'kubectl kpki' : 'kpki')
    .description('Keeps certificate expiry from taking a Kubernetes (kubeadm) cluster down: check, renew, restore.')
    .version('0.1.0')
    .option('--root <dir>', "treat DIR as the node's filesystem root (a node disk mounted elsewhere)", '/')
    .option('--cert-dir <dir>', 'certificates directory (node path); default from kubeadm config, manifests, or /etc/kubernetes/pki')
    .option('--kubeconfig-dir <dir>', 'kubeconfig directory (node path)', undefined)
    .option('--config <file>', 'kubeadm configuration file (node path) with ClusterConfiguration')
    .option('-i, --inventory <file>', 'act on every node of this inventory over SSH (kpki, Kubespray hosts.yaml/INI or KubeKey format)')
    .option('--nodes <names>', 'with --inventory: only these nodes (comma-separated)')
    .option('--accept-new-host-keys', "with --inventory: record unknown host keys (OpenSSH's accept-new); a changed key is still refused")
    .option('--concurrency <n>', 'with --inventory: nodes read at once', positiveWholeNumber, 10)
    .option(
      '--known-hosts <file>',
      "with --inventory: the known_hosts file for every node (default: the inventory's, else the SSH config's, else ~/.ssh/known_hosts)",
    )
    .option(
      '--ssh-config <file>',
      'with --inventory: the SSH client config to read, as ssh -F (default: ~/.ssh/config, then /etc/ssh/ssh_config; none: no config)',
    )
    .showHelpAfterError();

  // only the command being run is loaded; --help, --version and an unknown name see the index
  const named = COMMANDS.find((c) => c.name === commandOf(argv));
  if (named) program.addCommand(await named.load());
  else for (const c of COMMANDS) program.addCommand(new Command(c.name).description(c.summary).allowUnknownOption().helpOption(false));

  // commander's own errors (unknown option, a value outside the choices, a missing argument) are usage errors: exit 2,
  // on every command (addCommand does not pass the override down)
  const usageExit = (command: Command): void => {
    command.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
    command.commands.forEach(usageExit);
  };
  usageExit(program);

  await program.parseAsync(argv);
}
