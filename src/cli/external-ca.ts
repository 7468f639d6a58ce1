// kpki csr / kpki import: certificates signed by a CA whose key is not on the node (external CA mode).
import { Command } from 'commander';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { isPathComponent, pathComponent } from '../util/path-name.js';
import type { LocalHost } from '../hosts/local.js';
import { applyWrites, withNodeLock } from '../node/txn/index.js';
import { CSR_MANIFEST, planCsrs, planImport } from '../node/external-ca/index.js';
import { nodeRequestDir, readSignedRequests, refuseWaitingRequests, writeRequests } from '../node/external-ca/index.js';
import type { NodeRequests } from '../cluster/external-ca.js';
import { scanNode } from '../node/scan/index.js';
import type { NodeScan } from '../node/scan/index.js';
import { repairNode } from '../service/renew-node.js';
import { kubeadmDate } from '../report/kubeadm-format.js';
import { renderColumns } from '../report/table.js';
import {
  action,
  clusterConnectOptions,
  confirm,
  GlobalOptions,
  globalsOf,
  hostOf,
  inventoryNodesOf,
  log,
  scanOptionsOf,
} from './context.js';
import { strategyFlag, timeoutFlag } from './flags.js';
import type { ClusterRenewFlags } from './renew-cluster.js';
import { yesOption, dryRunOption, outputOption, strategyOption } from './options.js';

/**
 * The node's directory name among the requests: its kubelet's node name, else the host's. A name read from a
 * certificate is input: one that is not a single path component ("system:node:../../x") is refused, never joined.
 */
function nodeLabel(scan: NodeScan, host: LocalHost, given?: string): string {
  if (given) return pathComponent(given, '--node-name');
  const kubelet = scan.entries.find((e) => e.name === 'kubelet-client');
  const fromKubelet = /^system:node:(.+)$/.exec(kubelet?.cert?.commonName ?? '')?.[1];
  if (fromKubelet !== undefined && !isPathComponent(fromKubelet))
    throw new UsageError(
      `${kubelet!.path}: its node name ${JSON.stringify(fromKubelet)} (from CN=${kubelet!.cert!.commonName}) cannot name a directory under the requests`,
      'give the node directory with --node-name',
    );
  return fromKubelet ?? (host.live ? pathComponent(host.name, 'host name') : 'node');
}

export function csrCommand(): Command {
  return new Command('csr')
    .description('external CA: a new key on the node (<key>.next) and a request with the current subject and SANs, per certificate')
    .argument('[names...]', 'all, or certificate names (apiserver, etcd-server, admin.conf, ...)', ['all'])
    .requiredOption('--out <dir>', 'where the requests go: DIR/<node>/<name>.csr and DIR/<node>/csr.json')
    .option('--key-algorithm <alg>', 'the new keys: RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384 (default: as now)')
    .option('--keys-local', 'keep the new keys beside the requests under --out (0600) instead of on the node')
    .option('--node-name <name>', "the node's directory under --out (default: the kubelet's node name)")
    .addOption(dryRunOption('list the requests, write nothing'))
    .addOption(yesOption('write without asking'))
    .action(action(makeRequests));
}

type CsrFlags = { out: string; keyAlgorithm?: string; keysLocal?: boolean; nodeName?: string; dryRun?: boolean; yes?: boolean };

/** The requests a node will make, one row each. */
function requestRows(out: string, requests: NodeRequests[]): string[][] {
  return requests.flatMap(({ node, plan }) =>
    plan.manifest.requests.map((r) => [
      node,
      r.name,
      join(nodeRequestDir(out, node), r.csr),
      `${r.keyOnNode ?? `${join(nodeRequestDir(out, node), r.keyLocal!)} (local)`} (${r.keyAlgorithm})`,
      `${r.ca} (${r.caSubject})`,
    ]),
  );
}

/** Shows what will be requested; a number ends the run (nothing to request, a dry run, or no). */
async function reviewRequests(out: string, requests: NodeRequests[], opts: CsrFlags, where: string): Promise<number | undefined> {
  const rows = requestRows(out, requests);
  if (rows.length === 0) {
    log(
      'Nothing to request: no key pair or kubeconfig on the node is signed by a cluster CA whose certificate is here (a kubelet client certificate rotates through the API, or: kpki kubelet renew).',
    );
    return 0;
  }
  const keyColumn = opts.keysLocal ? 'KEY (KEPT HERE, 0600)' : 'KEY (STAYS ON THE NODE)';
  log(renderColumns([['NODE', 'CERTIFICATE', 'REQUEST', keyColumn, 'SIGNED BY'], ...rows]));
  if (opts.dryRun) {
    log('(dry run: nothing was written)');
    return 0;
  }
  const keys = requests.reduce((n, r) => n + r.plan.manifest.requests.length, 0);
  const keysWhere = opts.keysLocal ? `under ${out}` : `on ${where}`;
  return confirm(opts.yes, `Write ${keys} pending key(s) ${keysWhere} and the requests under ${out}?`);
}

const signNext = (out: string) =>
  `Have the CA sign each <name>.csr into <name>.crt beside it, then: kpki import --from ${out} (with the same --root or -i)`;

async function makeRequests(names: string[], opts: CsrFlags, command: Command): Promise<number> {
  const globals = globalsOf(command);
  if (globals.inventory) return csrOnCluster(globals, names, opts);
  const host = hostOf(globals);
  const scan = await scanNode(host, scanOptionsOf(globals));
  const node = nodeLabel(scan, host, opts.nodeName);
  refuseWaitingRequests(opts.out, [node]);
  const plan = await planCsrs(host, scan, node, names, { keyAlgorithm: opts.keyAlgorithm, now: new Date(), keysLocal: opts.keysLocal });
  const ended = await reviewRequests(opts.out, [{ node, plan }], opts, host.name);
  if (ended !== undefined) return ended;
  if (plan.writes.length)
    await withNodeLock(host, async () => {
      await repairNode(host, { log: (line) => log(`kpki: ${line}`) });
      await applyWrites(host, plan.writes, 'csr');
    });
  const dir = writeRequests(opts.out, node, plan);
  log(`Wrote ${plan.requests.size} request(s) and ${CSR_MANIFEST} under ${dir}. ${signNext(opts.out)}`);
  return 0;
}

/** -i: every node (or --nodes), reached and planned before any key is written. */
async function csrOnCluster(globals: GlobalOptions, names: string[], opts: CsrFlags): Promise<number> {
  if (opts.nodeName) throw new UsageError('--node-name is for one node: with -i every node gets its inventory name under --out');
  const { requestOnCluster } = await import('../cluster/external-ca.js');
  const code = await requestOnCluster(inventoryNodesOf(globals), {
    ...clusterConnectOptions(globals),
    scan: scanOptionsOf(globals),
    names,
    keyAlgorithm: opts.keyAlgorithm,
    keysLocal: opts.keysLocal,
    out: opts.out,
    review: (requests) => reviewRequests(opts.out, requests, opts, `${requests.length} node(s)`),
    log,
  });
  if (code === 0 && !opts.dryRun) log(signNext(opts.out));
  return code;
}

export function importCommand(): Command {
  return new Command('import')
    .description('external CA: install the signed certificates for the requests of kpki csr, each checked first')
    .requiredOption('--from <dir>', 'the directory given to kpki csr --out, with the signed <name>.crt beside each request')
    .option('--node-name <name>', "the node's directory under --from (default: the kubelet's node name)")
    .addOption(dryRunOption('check everything, write nothing'))
    .addOption(yesOption('install without asking'))
    .addOption(strategyOption('with --inventory'))
    .option('--timeout <duration>', 'with --inventory: how long a component may take to become healthy', '5m')
    .option('--resume', 'with --inventory: continue the import an interrupted run left (its journal on the nodes)')
    .option('--max-unavailable <n>', 'with --inventory: workers at once', '1')
    .addOption(outputOption(['text', 'json'], 'with --inventory: json prints the report as JSON on stdout'))
    .option('--report <file>', 'with --inventory: also write the report as JSON to this file')
    .action(action(importSigned));
}

interface ImportFlags extends ClusterRenewFlags {
  from: string;
  nodeName?: string;
  strategy: string;
  timeout: string;
}

/**
 * -i: a rollout whose nodes get the signed certificates instead of new ones: every node's certificates are checked
 * before any node changes, then control-plane nodes one at a time (into service, gates, roll back), workers in batches.
 */
async function importOnCluster(globals: GlobalOptions, opts: ImportFlags): Promise<number> {
  if (opts.nodeName) throw new UsageError('--node-name is for one node: with -i each node reads DIR/<its inventory name>/');
  const [{ runClusterOperation }, { rollout }] = await Promise.all([import('./renew-cluster.js'), import('../cluster/rollout.js')]);
  const settings = {
    names: ['all'],
    work: { kind: 'import' as const, from: resolve(opts.from) },
    strategy: strategyFlag(opts.strategy),
    timeoutMs: timeoutFlag(opts.timeout),
  };
  return runClusterOperation(globals, opts, (c) =>
    rollout(c.nodes, {
      ...c,
      settings: { ...settings, maxUnavailable: c.maxUnavailable },
      force: false,
      dryRun: Boolean(opts.dryRun),
      resume: Boolean(opts.resume),
    }),
  );
}

async function importSigned(opts: ImportFlags, command: Command): Promise<number> {
  const globals = globalsOf(command);
  if (globals.inventory) return importOnCluster(globals, opts);
  const host = hostOf(globals);
  const scan = await scanNode(host, scanOptionsOf(globals));
  const node = nodeLabel(scan, host, opts.nodeName);
  const requests = readSignedRequests(opts.from, node);
  if (!requests)
    throw new UsageError(
      `${join(nodeRequestDir(opts.from, node), CSR_MANIFEST)} does not exist: make the requests with kpki csr --out ${opts.from} first`,
    );
  const { manifest, signed } = requests;
  const plan = await planImport(host, scan, manifest, signed, new Date());
  log(renderColumns([['CERTIFICATE', 'FILE', 'VALID UNTIL'], ...plan.items.map((i) => [i.name, i.path, kubeadmDate(i.notAfter)])]));
  log("Every certificate: signed by the node's CA, the requested subject, names and usages, for its pending key, valid now.");
  if (opts.dryRun) {
    log('(dry run: nothing was written)');
    return 0;
  }
  const refused = await confirm(opts.yes, `Install ${plan.items.length} certificate(s) on ${host.name}?`);
  if (refused !== undefined) return refused;
  const backup = await withNodeLock(host, async () => {
    await repairNode(host, { log: (line) => log(`kpki: ${line}`) });
    // (checked again under the lock: the pending keys are read where they are now)
    const fresh = await planImport(host, await scanNode(host, scanOptionsOf(globals)), manifest, signed, new Date());
    return (await applyWrites(host, fresh.writes, 'import')).backup;
  });
  log(
    `Installed ${plan.items.length} certificate(s); backup ${backup.id} (undo with: kpki restore ${backup.id}). The components that use them read them at their next restart (kpki restart).`,
  );
  return 0;
}
