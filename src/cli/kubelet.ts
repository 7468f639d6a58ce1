// kpki kubelet status | renew: the kubelet's client identity, which nobody renews when it is embedded or not rotated.
import type { KeyObject } from 'node:crypto';
import { NodeScan, OWN_CA, SELF_SIGNED } from '../node/scan/index.js';
import type { LocalHost } from '../hosts/local.js';
import { Command } from 'commander';
import { withNodeLock, applyWrites } from '../node/txn/index.js';
import { KpkiError, UsageError } from '../errors.js';
import { KubeletStatus, kubeletNodeName, kubeletStatus, planKubeletRenewal } from '../node/kubelet/index.js';
import { scanNode } from '../node/scan/index.js';
import { parseKubeconfig } from '../kubeadm/kubeconfig.js';
import { Certificate, parseCertificate } from '../pki/certificate.js';
import { parsePrivateKey } from '../pki/keys.js';
import { kubeadmDate } from '../report/kubeadm-format.js';
import { describeNetworkError, httpGet } from '../api/http.js';
import { readServices, waitHealthy } from '../service/health.js';
import { planRotation } from '../node/kubelet/index.js';
import { restartComponent } from '../service/restart.js';
import { action, confirm, globalsOf, hostOf, log, scanOptionsOf } from './context.js';
import { durationFlag } from './flags.js';
import { ClusterRenewFlags, runClusterOperation } from './renew-cluster.js';
import { renewKubeletsOfCluster } from '../cluster/kubelet-renew.js';
import { readRegularFile } from '../util/read-file.js';
import { yesOption, dryRunOption, outputOption } from './options.js';

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
    const ca =
      opts.caCert && opts.caKey
        ? { cert: parseCertificate(readRegularFile(opts.caCert)), key: parsePrivateKey(readRegularFile(opts.caKey)) }
        : undefined;
    const settings = {
      names: ['kubelet-client'],
      ifExpiresWithinMs: opts.ifExpiresWithin ? durationFlag('--if-expires-within', opts.ifExpiresWithin) : undefined,
      validityMs: durationFlag('--validity', opts.validity),
      strategy: 'systemd' as const,
      timeoutMs: 180_000,
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
  const host = hostOf(globals);
  const inventory = await scanNode(host, scanOptionsOf(globals));
  const status = await kubeletStatus(host, inventory);
  if (status.identity === 'missing')
    throw new KpkiError(`${host.describe(status.kubeconfig)} does not exist: this node has not joined a cluster`);
  const ca = await kubeletSigner(host, inventory, status, opts);
  const nodeName = kubeletNodeName(status, opts.nodeName);
  const renewal = await planKubeletRenewal(host, status, ca, {
    nodeName,
    validityMs: durationFlag('--validity', opts.validity),
    now: new Date(),
  });
  log(`kubelet client certificate for system:node:${nodeName} (O=system:nodes), valid until ${kubeadmDate(renewal.notAfter)}:`);
  for (const w of renewal.writes)
    log(
      `  ${w.kind === 'symlink' ? `${w.path} -> ${w.target}` : `write ${w.path}${w.entry === 'kubelet.conf' ? ' (client-certificate/client-key: kubelet-client-current.pem)' : ''}`}`,
    );
  if (opts.dryRun) {
    log('(dry run: nothing was changed)');
    return 0;
  }
  const refused = await confirm(opts.yes, `Renew the kubelet client certificate of ${nodeName}?`);
  if (refused !== undefined) return refused;
  await withNodeLock(host, async () => {
    const { backup } = await applyWrites(host, renewal.writes, 'kubelet renew');
    log(`Renewed; backup ${backup.id} (undo with: kpki restore ${backup.id})`);
    if (opts.restart && host.live) {
      const result = await restartComponent(host, await readServices(host), 'kubelet', { strategy: 'systemd', timeoutMs: 120_000, log });
      log(result.skipped ? `Note: ${result.skipped}` : `kubelet: ${result.detail}`);
    }
  });
  return verifyAuthenticates(status.kubeconfig, await host.readFile(status.kubeconfig), renewal, nodeName);
}

/** The cluster CA that signs: the node's own (a control-plane node), or the files given, checked against what it trusts. */
async function kubeletSigner(
  host: LocalHost,
  inventory: NodeScan,
  status: KubeletStatus,
  opts: KubeletRenewFlags,
): Promise<{ cert: Certificate; key: KeyObject }> {
  const nodeCa = inventory.cas.find((c) => c.name === 'ca');
  if (opts.caCert || opts.caKey) {
    if (!opts.caCert || !opts.caKey) throw new UsageError('give both --ca-cert and --ca-key');
    const ca = { cert: parseCertificate(readRegularFile(opts.caCert)), key: parsePrivateKey(readRegularFile(opts.caKey)) };
    const trusted =
      nodeCa?.cert ??
      parseCertificate(parseKubeconfig((await host.readFile(status.kubeconfig)).toString()).certificateAuthorityData ?? Buffer.alloc(0));
    if (!trusted.der.equals(ca.cert.der))
      throw new KpkiError(`${opts.caCert} is not this cluster's CA (the node trusts ${trusted.subject}, serial ${trusted.serial})`);
    return ca;
  }
  if (nodeCa?.cert && nodeCa.key) return { cert: nodeCa.cert, key: nodeCa.key };
  throw new UsageError(
    `no cluster CA key on ${host.name}: give --ca-cert and --ca-key (copied from a control-plane node's /etc/kubernetes/pki)`,
  );
}

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
  const plan = await planRotation(host, opts.signingDuration);
  if (plan.changes.length === 0) {
    log('Nothing to change: rotation is on and the signing duration is already set.');
    return 0;
  }
  for (const c of plan.changes) log(`  ${c}`);
  if (opts.dryRun) {
    log('(dry run: nothing was changed)');
    return 0;
  }
  const refused = await confirm(opts.yes, 'Apply these changes?');
  if (refused !== undefined) return refused;
  return await withNodeLock(host, async () => {
    const { backup } = await applyWrites(host, plan.writes, 'kubelet enable-rotation');
    log(`Changed; backup ${backup.id} (undo with: kpki restore ${backup.id})`);
    if (!host.live) return 0;
    const services = await readServices(host);
    if (plan.kubeletChanged) {
      const r = await restartComponent(host, services, 'kubelet', { strategy: 'systemd', timeoutMs: 120_000, log });
      log(r.skipped ? `Note: ${r.skipped}` : `kubelet: ${r.detail}`);
    }
    if (plan.controllerManagerChanged) {
      // the kubelet restarts a static pod whose manifest changed: wait for it to come back healthy
      await new Promise((r) => setTimeout(r, 2000));
      const h = await waitHealthy(host, services, 'kube-controller-manager', 180_000);
      log(
        h.ok
          ? 'kube-controller-manager: healthy with the new flag'
          : `kube-controller-manager: not healthy: ${h.checks
              .filter((c) => !c.ok)
              .map((c) => c.detail)
              .join('; ')}`,
      );
      if (!h.ok) return 1;
    }
    return 0;
  });
}

/** Asks the API server (kubelet.conf's) with the new certificate: anything but 401 means it authenticates. */
async function verifyAuthenticates(
  path: string,
  kubeconfig: Buffer,
  renewal: { certPem: string; keyPem: string },
  nodeName: string,
): Promise<number> {
  const id = parseKubeconfig(kubeconfig.toString());
  if (!id.server) return 0;
  try {
    const res = await httpGet(`${id.server.replace(/\/$/, '')}/api/v1/nodes/${nodeName}`, {
      ca: id.certificateAuthorityData,
      cert: Buffer.from(renewal.certPem),
      key: Buffer.from(renewal.keyPem),
      timeoutMs: 5000,
    });
    if (res.status === 401) {
      log(`The API server ${id.server} does not accept the new certificate (HTTP 401).`);
      return 1;
    }
    log(`Verified: ${id.server} authenticates system:node:${nodeName} with the new certificate (HTTP ${res.status}).`);
  } catch (err) {
    log(
      `Note: could not reach ${id.server} from here to verify (${describeNetworkError(err)}); the kubelet will use the new certificate (${path}).`,
    );
  }
  return 0;
}
