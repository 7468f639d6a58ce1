// kpki ca plan and kpki ca rotate. plan: the blast radius of rotating a CA (files on the nodes, the API's objects, what people must handle),
// before anything changes. Read-only, on one node (--root or this machine) or the whole cluster (-i).
import type { RolloutReport, RolloutResult } from '../cluster/outcome.js';
import { Command } from 'commander';
import { UsageError } from '../errors.js';
import { Phase, PHASES, ROTATABLE, RotatableCa } from '../kubeadm/ca-trust.js';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NewSigner } from '../node/rotation/index.js';
import {
  action,
  clusterConnectOptions,
  confirm,
  GlobalOptions,
  globalsOf,
  hostOf,
  inventoryNodesOf,
  log,
  requireLiveNode,
  scanOptionsOf,
} from './context.js';
import { durationFlag, strategyFlag, timeoutFlag } from './flags.js';
import { readRegularFile } from '../util/read-file.js';
import { yesOption, dryRunOption, outputOption, strategyOption } from './options.js';

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
    .addOption(outputOption(['text', 'json'], 'output format'))
    .addHelpText(
      'after',
      '\nExit codes: 0 the plan is complete, 1 it is incomplete (a node not reached, the API not visible, the CA differs between nodes), 2 the CA cannot be rotated (missing or expired: kpki recover) or a usage error.',
    )
    .action(action((opts: PlanFlags, sub: Command) => planCommand(globalsOf(sub), opts)));
  command
    .command('rotate')
    .description(
      'rotate a CA with -i, phase by phase, one control-plane node at a time: trust old + new, issue from the new, verify, finish',
    )
    .requiredOption('--ca <name>', `which: ${ROTATABLE.join(', ')} (sa: the service-account key pair)`)
    .option('--phase <phase>', `${PHASES.join(', ')} or all (in that order, stopping at the first that does not complete)`, 'all')
    .option('--new-ca-cert <file>', 'the new CA certificate (with --new-ca-key) instead of one made in memory')
    .option('--new-ca-key <file>', 'the new CA key (for sa: the new service-account private key, alone)')
    .option('--save-ca <dir>', 'also keep the new CA (or sa key) made in memory here (a 0700 directory; the key 0600)')
    .option(
      '--token-overlap <duration>',
      'sa: how long the new key must have signed on every node before finish drops the old one (pods refresh their tokens within 1 h)',
      '1h',
    )
    .addOption(dryRunOption('show what the next phase would change on each node, change nothing'))
    .addOption(yesOption())
    .option('--resume', 'with -i: continue a phase that was interrupted (its journal is on the nodes)')
    .option('--restart', 'without -i: restart what reads a changed CA file only at start, verify, roll back on failure')
    .addOption(strategyOption())
    .option('--timeout <duration>', 'how long a component may take to become healthy', '5m')
    .addOption(outputOption(['text', 'json'], "json prints each phase's report as JSON on stdout"))
    .option('--report <file>', "also write the last phase's report as JSON to this file")
    .addHelpText(
      'after',
      '\nExit codes: 0 every phase asked for completed (or had nothing to do), 1 a phase was refused or stopped (verify: something still uses the old CA), 2 usage error.',
    )
    .action(action((opts: RotateFlags, sub: Command) => rotateCommand(globalsOf(sub), opts)));
  return command;
}

interface RotateFlags {
  restart?: boolean;
  ca: string;
  phase: string;
  newCaCert?: string;
  newCaKey?: string;
  saveCa?: string;
  dryRun?: boolean;
  yes?: boolean;
  resume?: boolean;
  strategy: string;
  timeout: string;
  output?: string;
  report?: string;
  tokenOverlap: string;
}

async function rotateCommand(globals: GlobalOptions, opts: RotateFlags): Promise<number> {
  if (!(ROTATABLE as readonly string[]).includes(opts.ca)) throw new UsageError(`--ca must be one of ${ROTATABLE.join(', ')}`);
  const tokenOverlapMs = durationFlag('--token-overlap', opts.tokenOverlap);
  const phases = opts.phase === 'all' ? [...PHASES] : [opts.phase];
  if (!phases.every((p) => (PHASES as readonly string[]).includes(p)))
    throw new UsageError(`--phase must be one of ${PHASES.join(', ')} or all`);
  if (opts.ca === 'sa' && opts.newCaCert)
    throw new UsageError('the service-account key pair has no certificate: give the new private key alone with --new-ca-key');
  if (opts.ca !== 'sa' && Boolean(opts.newCaCert) !== Boolean(opts.newCaKey))
    throw new UsageError('--new-ca-cert and --new-ca-key go together');
  const newCa = opts.newCaKey ? await readNewSigner(opts.newCaKey, opts.newCaCert) : undefined;
  if (!globals.inventory) return rotateHere(globals, opts, phases as Phase[], newCa);
  const { runClusterOperation } = await import('./renew-cluster.js');
  const { rotateCaPhase } = await import('../cluster/ca-rotate.js');
  const { mergeSteps } = await import('../cluster/outcome.js');
  const { runPhases } = await import('../cluster/ca-phases.js');
  const flags = { ...opts, maxUnavailable: '1' };
  let earlierStep: RolloutReport | undefined;
  const outcome = await runPhases(phases as Phase[], async (phase) => {
    let result: RolloutResult | undefined;
    const code = await runClusterOperation(globals, flags, async (c) => {
      const outcome = await rotateCaPhase(c.nodes, {
        ...c,
        ca: opts.ca as RotatableCa,
        phase,
        newCa,
        tokenOverlapMs,
        saveCa: opts.saveCa ? (pair) => saveCaPair(opts.saveCa!, opts.ca, pair) : undefined,
        strategy: strategyFlag(opts.strategy),
        timeoutMs: timeoutFlag(opts.timeout),
        dryRun: Boolean(opts.dryRun),
        resume: Boolean(opts.resume),
      });
      if (earlierStep) outcome.report = mergeSteps(earlierStep, outcome.report);
      earlierStep = outcome.report.result === 'continues' ? outcome.report : undefined;
      result = outcome.report.result;
      return outcome;
    });
    return { code, result };
  });
  if (outcome.dryRunAfter && phases.length > 1)
    log(`(the phases after ${outcome.dryRunAfter} are planned when ${outcome.dryRunAfter} has run)`);
  return outcome.code;
}

/** Without -i: every phase asked for on this node (or the disk at --root), one after the other. */
async function rotateHere(globals: GlobalOptions, opts: RotateFlags, phases: Phase[], newCa?: NewSigner): Promise<number> {
  const host = hostOf(globals);
  if (opts.restart) requireLiveNode(host, 'ca rotate --restart');
  // on a running node each phase must be in service before the next: etcd would serve a new-CA certificate to an
  // API server that does not trust it yet
  if (host.live && !opts.restart && !opts.dryRun && phases.filter((p) => p !== 'verify').length > 1)
    throw new UsageError(
      'on a running node, give --restart (each phase is brought into service before the next), or run one --phase at a time and restart what it names in between',
    );
  const { rotateCaOnNode } = await import('../service/rotate-node.js');
  const restart = opts.restart ? { strategy: strategyFlag(opts.strategy), timeoutMs: timeoutFlag(opts.timeout) } : undefined;
  for (const phase of phases) {
    let planned = false;
    const code = await rotateCaOnNode(host, {
      ca: opts.ca as RotatableCa,
      tokenOverlapMs: durationFlag('--token-overlap', opts.tokenOverlap),
      phase,
      newCa,
      scan: scanOptionsOf(globals),
      restart,
      log,
      madeCa: opts.saveCa ? async (pair) => void log(await saveCaPair(opts.saveCa!, opts.ca, pair)) : undefined,
      review: async (plan, stage) => {
        planned = true;
        log(`${opts.ca} ${phase} on ${host.name} (${stage}):`);
        for (const w of plan.writes) log(`  ${w.kind === 'remove' ? 'remove' : 'write'} ${w.path}`);
        if (plan.restart.length) log(`  then restart ${plan.restart.join(', ')} (they read it only at start)`);
        if (opts.dryRun) return 0;
        return confirm(opts.yes, `Apply the ${phase} phase of ${opts.ca} on ${host.name}?`);
      },
    });
    if (code !== 0) return code;
    if (opts.dryRun && planned) {
      log(`(dry run: nothing was changed${phases.length > 1 ? `; the phases after ${phase} are planned when ${phase} has run` : ''})`);
      return 0;
    }
  }
  return 0;
}

async function readNewSigner(keyFile: string, certFile?: string): Promise<NewSigner> {
  const { parseCertificate } = await import('../pki/certificate.js');
  const { parsePrivateKey } = await import('../pki/keys.js');
  try {
    return { cert: certFile ? parseCertificate(readRegularFile(certFile)) : undefined, key: parsePrivateKey(readRegularFile(keyFile)) };
  } catch (err) {
    throw new UsageError(`${certFile ? `--new-ca-cert ${certFile} / ` : ''}--new-ca-key ${keyFile}: ${(err as Error).message}`);
  }
}

/** --save-ca: the new CA (or sa key pair) beside nothing else, never over an existing file. */
async function saveCaPair(dir: string, ca: string, pair: NewSigner): Promise<string> {
  const { certificateToPem } = await import('../pki/certificate.js');
  const { privateKeyToPem } = await import('../pki/keys.js');
  const { publicKeyToPem } = await import('../pki/public-keys.js');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const cert = join(dir, pair.cert ? `${ca}.crt` : `${ca}.pub`);
  const key = join(dir, `${ca}.key`);
  writeFileSync(key, privateKeyToPem(pair.key), { mode: 0o600, flag: 'wx' });
  writeFileSync(cert, pair.cert ? certificateToPem(pair.cert) : publicKeyToPem(pair.key), { mode: 0o644, flag: 'wx' });
  return `--save-ca: the new ${ca} is kept in ${cert} and ${key}`;
}

async function planCommand(globals: GlobalOptions, opts: PlanFlags): Promise<number> {
  if (!(ROTATABLE as readonly string[]).includes(opts.ca)) throw new UsageError(`--ca must be one of ${ROTATABLE.join(', ')}`);
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
