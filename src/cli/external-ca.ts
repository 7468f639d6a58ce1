// kpki csr / kpki import: certificates signed by a CA whose key is not on the node (external CA mode).
import { Command } from 'commander';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from '../errors.js';
import type { LocalHost } from '../hosts/local.js';
import { applyWrites, withNodeLock } from '../node/apply.js';
import { CSR_MANIFEST, CsrManifest, planCsrs, planImport, SignedFiles } from '../node/external-ca.js';
import { scanNode } from '../node/scan.js';
import type { NodeScan } from '../node/scan-result.js';
import { repairNode } from '../service/renew-node.js';
import { kubeadmDate } from '../report/kubeadm-format.js';
import { renderColumns } from '../report/table.js';
import { action, confirm, globalsOf, hostOf, log, scanOptionsOf } from './context.js';

/** The node's directory name among the requests: its kubelet's node name, else the host's. */
function nodeLabel(scan: NodeScan, host: LocalHost, given?: string): string {
  if (given) return given;
  const kubelet = scan.entries.find((e) => e.name === 'kubelet-client')?.cert?.commonName;
  const fromKubelet = /^system:node:(.+)$/.exec(kubelet ?? '')?.[1];
  return fromKubelet ?? (host.live ? host.name : 'node');
}

export function csrCommand(): Command {
  return new Command('csr')
    .description('external CA: a new key on the node (<key>.next) and a request with the current subject and SANs, per certificate')
    .argument('[names...]', 'all, or certificate names (apiserver, etcd-server, admin.conf, ...)', ['all'])
    .requiredOption('--out <dir>', 'where the requests go: DIR/<node>/<name>.csr and DIR/<node>/csr.json')
    .option('--key-algorithm <alg>', 'the new keys: RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384 (default: as now)')
    .option('--node-name <name>', "the node's directory under --out (default: the kubelet's node name)")
    .option('--dry-run', 'list the requests, write nothing')
    .option('-y, --yes', 'write without asking')
    .action(action(makeRequests));
}

async function makeRequests(
  names: string[],
  opts: { out: string; keyAlgorithm?: string; nodeName?: string; dryRun?: boolean; yes?: boolean },
  command: Command,
): Promise<number> {
  const globals = globalsOf(command);
  const host = hostOf(globals);
  const scan = await scanNode(host, scanOptionsOf(globals));
  const node = nodeLabel(scan, host, opts.nodeName);
  const dir = join(opts.out, node);
  if (existsSync(join(dir, CSR_MANIFEST)))
    throw new UsageError(`${join(dir, CSR_MANIFEST)} exists: import those first (kpki import), or choose another --out`);
  const plan = await planCsrs(host, scan, node, names, { keyAlgorithm: opts.keyAlgorithm, now: new Date() });
  if (plan.manifest.requests.length === 0) {
    log('No certificate on this node is signed by a cluster CA whose certificate is here: nothing to request.');
    return 0;
  }
  log(
    renderColumns([
      ['CERTIFICATE', 'REQUEST', 'KEY (STAYS ON THE NODE)', 'SIGNED BY'],
      ...plan.manifest.requests.map((r) => [r.name, join(dir, r.csr), `${r.keyOnNode} (${r.keyAlgorithm})`, `${r.ca} (${r.caSubject})`]),
    ]),
  );
  if (opts.dryRun) {
    log('(dry run: nothing was written)');
    return 0;
  }
  const refused = await confirm(opts.yes, `Write ${plan.writes.length} pending key(s) on ${host.name} and the requests under ${dir}?`);
  if (refused !== undefined) return refused;
  await withNodeLock(host, async () => {
    await repairNode(host, { log: (line) => log(`kpki: ${line}`) });
    await applyWrites(host, plan.writes, 'csr');
  });
  for (const [file, pem] of plan.requests) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), pem);
  }
  writeFileSync(join(dir, CSR_MANIFEST), `${JSON.stringify(plan.manifest, null, 2)}\n`);
  log(
    `Wrote ${plan.requests.size} request(s) and ${CSR_MANIFEST} under ${dir}. Have the CA sign each <name>.csr into <name>.crt beside it, then: kpki import --from ${opts.out}`,
  );
  return 0;
}

export function importCommand(): Command {
  return new Command('import')
    .description('external CA: install the signed certificates for the requests of kpki csr, each checked first')
    .requiredOption('--from <dir>', 'the directory given to kpki csr --out, with the signed <name>.crt beside each request')
    .option('--node-name <name>', "the node's directory under --from (default: the kubelet's node name)")
    .option('--dry-run', 'check everything, write nothing')
    .option('-y, --yes', 'install without asking')
    .action(action(importSigned));
}

async function importSigned(opts: { from: string; nodeName?: string; dryRun?: boolean; yes?: boolean }, command: Command): Promise<number> {
  const globals = globalsOf(command);
  const host = hostOf(globals);
  const scan = await scanNode(host, scanOptionsOf(globals));
  const dir = join(opts.from, nodeLabel(scan, host, opts.nodeName));
  const manifestFile = join(dir, CSR_MANIFEST);
  if (!existsSync(manifestFile))
    throw new UsageError(`${manifestFile} does not exist: make the requests with kpki csr --out ${opts.from} first`);
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as CsrManifest;
  if (manifest.kind !== 'KpkiCertificateRequests') throw new UsageError(`${manifestFile} is not a kpki csr manifest`);
  const signed: SignedFiles = new Map(
    manifest.requests.map((r) => [r.crt, existsSync(join(dir, r.crt)) ? readFileSync(join(dir, r.crt)) : undefined]),
  );
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
