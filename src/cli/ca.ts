// kpki ca plan: the blast radius of rotating a CA (files on the nodes, the API's objects, what people must handle),
// before anything changes. Read-only, on one node (--root or this machine) or the whole cluster (-i).
import { Command } from 'commander';
import { UsageError } from '../errors.js';
import { ROTATABLE, RotatableCa } from '../kubeadm/ca-trust.js';
import { action, clusterConnectOptions, GlobalOptions, globalsOf, hostOf, inventoryNodesOf, scanOptionsOf } from './context.js';

interface PlanFlags {
  ca: string;
  output?: string;
}

export function caCommand(): Command {
  const command = new Command('ca').description('CA rotation: see what trusts a CA and what a rotation would change');
  command
    .command('plan')
    .description('the blast radius of rotating a CA: what trusts it, what it signed, restarts per node and phase (read-only)')
    .option('--ca <name>', `which: ${ROTATABLE.join(', ')} (sa: the service-account key pair)`, 'ca')
    .option('-o, --output <format>', 'text or json', 'text')
    .addHelpText(
      'after',
      '\nExit codes: 0 the plan is complete, 1 it is incomplete (a node not reached, the API not visible, the CA differs between nodes), 2 the CA cannot be rotated (missing or expired: kpki recover) or a usage error.',
    )
    .action(action((opts: PlanFlags, sub: Command) => planCommand(globalsOf(sub), opts)));
  return command;
}

async function planCommand(globals: GlobalOptions, opts: PlanFlags): Promise<number> {
  if (!(ROTATABLE as readonly string[]).includes(opts.ca)) throw new UsageError(`--ca must be one of ${ROTATABLE.join(', ')}`);
  if (!['text', 'json'].includes(opts.output ?? 'text')) throw new UsageError('-o must be text or json');
  const { planCaRotation } = await import('../cluster/ca-plan.js');
  const caName = opts.ca as RotatableCa;
  let close = () => {};
  let targets: { name?: string; host?: import('../hosts/host.js').Host; error?: string }[];
  if (globals.inventory) {
    const { connectAll } = await import('../cluster/connect.js');
    const reached = await connectAll(inventoryNodesOf(globals), {
      ...clusterConnectOptions(globals),
      onNotice: (line) => process.stderr.write(`kpki: ${line}\n`),
    });
    close = () => reached.forEach((r) => r.host?.close());
    targets = reached.map((r) => ({ name: r.node.name, host: r.host, error: r.error }));
  } else targets = [{ host: hostOf(globals) }];
  try {
    const plan = await planCaRotation(targets, caName, { scan: scanOptionsOf(globals), askApi: Boolean(globals.inventory) });
    if (opts.output === 'json') process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
    else process.stdout.write((await import('../report/ca-plan.js')).renderCaPlan(plan));
    if (plan.expired || !plan.nodes.some((n) => n.ca.present)) return 2;
    const incomplete =
      plan.unreachable.length > 0 || plan.differences.length > 0 || (globals.inventory && !plan.api && caName !== 'etcd-ca');
    return incomplete ? 1 : 0;
  } finally {
    close();
  }
}
