// kpki kubelet status | renew: the kubelet's client identity, which nobody renews when it is embedded or not rotated.
import { Command } from 'commander';
import { renewKubeletsOfCluster } from '../cluster/kubelet-renew.js';
import { UsageError } from '../errors.js';
import { kubeletStatus } from '../node/kubelet/index.js';
import { OWN_CA, SELF_SIGNED, scanNode } from '../node/scan/index.js';
import { parseCertificate } from '../pki/certificate.js';
import { parsePrivateKey } from '../pki/keys.js';
import { kubeadmDate } from '../report/kubeadm-format.js';
import { enableKubeletRotation, renewKubeletHere } from '../service/kubelet-node.js';
import { readRegularFile } from '../util/read-file.js';
import { action, confirm, globalsOf, hostOf, log, scanOptionsOf } from './context.js';
import { durationFlag } from './flags.js';
import { dryRunOption, outputOption, yesOption } from './options.js';
import { ClusterRenewFlags, runClusterOperation } from './renew-cluster.js';

function servingSignerWords(signer?: string): string {
  if (signer === OWN_CA) return "signed by the kubelet's own CA, written after it in the file";
  if (signer === SELF_SIGNED) return 'self-signed';
  return signer ? `signed by ${signer}` : 'signer not found on this node';
}

const yesNo = (v: boolean | undefined) => (v === undefined ? 'not set' : v ? 'yes' : 'no');

export function kubeletCommand(): Command {
  const command = new Command('kubelet').description("the kubelet's client and serving certificates");
  addStatus(command);
  addRenew(command);
  addEnableRotation(command);
  return command;
}

function addStatus(command: Command): void {
  command
    .command('status')
    .description("where the kubelet's client identity lives, its expiry, rotation settings, serving certificate")
    .action(action(kubeletStatusAction));
}

async function kubeletStatusAction(_opts: object, sub: Command): Promise<number> {
  const globals = globalsOf(sub);
  const host = hostOf(globals);
  const status = await kubeletStatus(host, await scanNode(host, scanOptionsOf(globals)));
  const client = status.client ? `${status.client.commonName}, expires ${kubeadmDate(status.client.notAfter)}` : 'none';
  const rows = [
    [
      'client identity',
      status.identity === 'embedded'
        ? `embedded in ${status.kubeconfig}`
        : status.identity === 'file'
          ? `${status.clientFile} (from ${status.kubeconfig})`
          : `none (${status.kubeconfig} missing)`,
    ],
    ['client certificate', client],
    ['rotateCertificates', yesNo(status.rotateCertificates)],
    ['serverTLSBootstrap', yesNo(status.serverTLSBootstrap)],
    [
      'serving certificate',
      status.serving
        ? `${status.servingSource}, expires ${kubeadmDate(status.serving.notAfter)} (${servingSignerWords(status.servingSigner)})`
        : 'none found',
    ],
    ['cluster-signing-duration', status.clusterSigningDuration ?? 'no controller-manager on this node'],
  ];
  for (const [k, v] of rows) log(`${`${k}:`.padEnd(27)}${v}`);
  for (const w of status.warnings) log(`warning: ${w}`);
  return status.warnings.length === 0 ? 0 : 1;
}

function addRenew(command: Command): void {
  command
    .command('renew')
    .description("sign a new kubelet client certificate with the cluster CA, offline, the kubelet's way; restart and verify")
    .option('--node-name <name>', 'the node (default: from the current certificate)')
    .option('--ca-cert <file>', 'the cluster CA certificate on this machine, when the node has no CA key (a worker)')
    .option('--ca-key <file>', 'the cluster CA key on this machine (read into memory only)')
    .option('--validity <duration>', 'validity of the new certificate', '8760h')
    .addOption(dryRunOption('say what would be written'))
    .addOption(yesOption())
    .option('--no-restart', 'do not restart the kubelet afterwards')
    .option('--if-expires-within <duration>', 'with --inventory: only nodes whose certificate expires within this window')
    .option('--max-unavailable <n>', 'with --inventory: workers renewed at once', '1')
    .addOption(outputOption(['text', 'json'], 'with --inventory: json prints the report as JSON on stdout'))
    .option('--report <file>', 'with --inventory: also write the report as JSON to this file')
    .action(action(kubeletRenewAction));
}

type KubeletRenewFlags = {
  nodeName?: string;
  caCert?: string;
  caKey?: string;
  validity: string;
  dryRun?: boolean;
  yes?: boolean;
  restart: boolean;
  ifExpiresWithin?: string;
} & ClusterRenewFlags;

async function kubeletRenewAction(opts: KubeletRenewFlags, sub: Command): Promise<number> {
  const globals = globalsOf(sub);
  if (globals.inventory) {
    if (opts.caCert && !opts.caKey) throw new UsageError('give both --ca-cert and --ca-key');
    const ca = opts.caCert && opts.caKey ? readSigner(opts.caCert, opts.caKey) : undefined;
    const settings = {
      names: ['kubelet-client'],
      ifExpiresWithinMs: opts.ifExpiresWithin ? durationFlag('--if-expires-within', opts.ifExpiresWithin) : undefined,
      validityMs: durationFlag('--validity', opts.validity),
      strategy: 'systemd' as const,
      timeoutMs: 180_000,
      work: { kind: 'kubelet' as const },
    };
    return runClusterOperation(globals, opts, (c) =>
      renewKubeletsOfCluster(c.nodes, {
        ...c,
        settings: { ...settings, maxUnavailable: c.maxUnavailable },
        dryRun: Boolean(opts.dryRun),
        ca,
      }),
    );
  }
  if (Boolean(opts.caCert) !== Boolean(opts.caKey)) throw new UsageError('give both --ca-cert and --ca-key');
  const host = hostOf(globals);
  return renewKubeletHere(host, {
    scan: scanOptionsOf(globals),
    ca: opts.caCert && opts.caKey ? () => readSigner(opts.caCert!, opts.caKey!) : undefined,
    caFile: opts.caCert,
    nodeName: opts.nodeName,
    validityMs: durationFlag('--validity', opts.validity),
    restart: opts.restart,
    log,
    review: async (renewal, nodeName) => {
      log(`kubelet client certificate for system:node:${nodeName} (O=system:nodes), valid until ${kubeadmDate(renewal.notAfter)}:`);
      for (const w of renewal.writes)
        log(
          `  ${w.kind === 'symlink' ? `${w.path} -> ${w.target}` : `write ${w.path}${w.entry === 'kubelet.conf' ? ' (client-certificate/client-key: kubelet-client-current.pem)' : ''}`}`,
        );
      if (opts.dryRun) {
        log('(dry run: nothing was changed)');
        return 0;
      }
      return confirm(opts.yes, `Renew the kubelet client certificate of ${nodeName}?`);
    },
  });
}

/** --ca-cert and --ca-key, read on this machine into memory. */
const readSigner = (certFile: string, keyFile: string) => ({
  cert: parseCertificate(readRegularFile(certFile)),
  key: parsePrivateKey(readRegularFile(keyFile)),
});

function addEnableRotation(command: Command): void {
  command
    .command('enable-rotation')
    .description("turn on the kubelet's client certificate rotation and set the controller-manager's --cluster-signing-duration")
    .option('--signing-duration <duration>', 'what the controller-manager signs kubelet certificates for', '8760h')
    .addOption(dryRunOption('say what would change'))
    .addOption(yesOption())
    .action(action(kubeletEnableRotationAction));
}

async function kubeletEnableRotationAction(
  opts: { signingDuration: string; dryRun?: boolean; yes?: boolean },
  sub: Command,
): Promise<number> {
  const host = hostOf(globalsOf(sub));
  durationFlag('--signing-duration', opts.signingDuration);
  return enableKubeletRotation(host, {
    signingDuration: opts.signingDuration,
    log,
    review: async (plan) => {
      for (const c of plan.changes) log(`  ${c}`);
      if (opts.dryRun) {
        log('(dry run: nothing was changed)');
        return 0;
      }
      return confirm(opts.yes, 'Apply these changes?');
    },
  });
}
