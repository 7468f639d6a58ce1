// kpki check: what is on the node, when it expires, what is wrong with it. Exit codes as monitoring plugins use them.
import { Command } from 'commander';
import { stringify } from 'yaml';
import { scanNode } from '../node/scan/index.js';
import type { NodeScan } from '../node/scan/index.js';
import { expirationInfo, kubeadmText } from '../report/kubeadm-format.js';
import { nodeSeverity, Thresholds } from '../report/status.js';
import { detailFor, renderTable, renderWide } from '../report/table.js';
import { dateFlag, durationFlag } from './flags.js';
import { action, clusterConnectOptions, globalsOf, hostOf, inventoryNodesOf, scanOptionsOf } from './context.js';
import { UsageError } from '../errors.js';
import type { GlobalOptions } from './context.js';
import { outputOption } from './options.js';

export function checkCommand(): Command {
  return new Command('check')
    .description('show every certificate and kubeconfig on the node with expiry and problems')
    .addOption(outputOption(['table', 'kubeadm', 'json', 'yaml', 'wide'], 'output format'))
    .option('--warn <duration>', 'exit 1 when something expires within this window', '30d')
    .option('--crit <duration>', 'exit 2 when something expires within this window', '7d')
    .option('--at <date>', 'judge as on this date (2027-06-01 or an ISO time): what will be expired or expiring then')
    .option('--in <duration>', 'judge as this long from now (90d): what will be expired or expiring then')
    .addHelpText(
      'after',
      '\nExit codes: 0 all fine, 1 something within --warn (or a warning: file modes, the kubelet serving certificate), 2 something within --crit, expired or broken (or a usage error), 3 the node could not be read.',
    )
    .action(
      action(async (opts: { output: string; warn: string; crit: string; at?: string; in?: string }, command: Command) => {
        const globals = globalsOf(command);
        const thresholds: Thresholds = {
          warnMs: durationFlag('--warn', opts.warn),
          critMs: durationFlag('--crit', opts.crit),
          now: judgedAt(opts),
        };
        if (opts.at || opts.in) process.stderr.write(`kpki: as on ${thresholds.now.toISOString()}\n`);
        if (globals.inventory) return checkInventory(globals, thresholds, opts.output);
        const host = hostOf(globals);
        const scan = await scanNode(host, checkScanOptions(globals));
        // (the API client loads only where the kubelet gets its serving certificate from the cluster)
        if (host.live && scan.entries.some((e) => e.name === 'kubelet-serving' && e.slot.kind === 'combined')) {
          scan.servingCsrs = await (await import('../api/kubelet-csrs.js')).pendingServingCsrs(scan);
        }
        const out = process.stdout;
        switch (opts.output) {
          case 'kubeadm':
            out.write(kubeadmText(expirationInfo(scan, thresholds.now)));
            break;
          case 'json':
            out.write(`${JSON.stringify(checkData(scan, thresholds), null, 2)}\n`);
            break;
          case 'yaml':
            out.write(stringify(checkData(scan, thresholds)));
            break;
          case 'wide':
            out.write(renderWide(scan, thresholds));
            break;
          default:
            out.write(renderTable(scan, thresholds, Boolean(process.stdout.isTTY) && !process.env.NO_COLOR));
        }
        for (const item of [...scan.cas, ...scan.entries]) {
          for (const p of item.problems) if (p.code === 'unreadable') process.stderr.write(`kpki: cannot read ${p.message}\n`);
        }
        if (scan.role === 'unknown') {
          process.stderr.write(
            `kpki: no Kubernetes certificates found under ${hostOf(globals).describe(scan.certDir)} or ${hostOf(globals).describe(scan.kubeconfigDir)}\n`,
          );
          return 3;
        }
        return nodeSeverity(scan, thresholds);
      }),
    );
}

async function checkInventory(globals: GlobalOptions, thresholds: Thresholds, output: string): Promise<number> {
  // SSH and the cluster's rendering load only for -i
  const [{ checkCluster }, { clusterSeverity, renderCluster }] = await Promise.all([
    import('../cluster/check.js'),
    import('../report/cluster.js'),
  ]);
  const check = await checkCluster(inventoryNodesOf(globals), checkScanOptions(globals), clusterConnectOptions(globals));
  if (output === 'json' || output === 'yaml') {
    const data = {
      nodes: check.results.map((r) => ({
        node: r.node.name,
        address: r.node.address,
        role: r.node.role,
        error: r.error,
        ...(r.scan ? checkData(r.scan, thresholds) : {}),
      })),
      crossNode: check.crossNode,
    };
    process.stdout.write(output === 'json' ? `${JSON.stringify(data, null, 2)}\n` : stringify(data));
  } else if (output === 'kubeadm' || output === 'wide') {
    // one section per node, each exactly as on that node
    for (const r of check.results) {
      process.stdout.write(`== ${r.node.name} (${r.node.address}, ${r.node.role})\n`);
      if (!r.scan) process.stdout.write(`UNKNOWN: ${r.error}\n\n`);
      else
        process.stdout.write(
          `${output === 'kubeadm' ? kubeadmText(expirationInfo(r.scan, thresholds.now)) : renderWide(r.scan, thresholds)}\n`,
        );
    }
    if (check.crossNode.length) process.stdout.write(`Across nodes:\n${check.crossNode.map((p) => `  ${p}`).join('\n')}\n`);
  } else process.stdout.write(renderCluster(check, thresholds));
  return clusterSeverity(check, thresholds);
}

/** kubeadm's CertificateExpirationInfo with kpki's detail per item, and the file mode and owner findings. */
function checkData(scan: NodeScan, thresholds: Thresholds) {
  return {
    ...expirationInfo(scan, thresholds.now, detailFor(scan, thresholds)),
    files: scan.files ?? [],
    ...(scan.servingCsrs ? { kubeletServingCsrs: scan.servingCsrs } : {}),
    ...(scan.interrupted ? { interruptedRun: scan.interrupted } : {}),
    ...(scan.pendingRequests?.length ? { pendingRequests: scan.pendingRequests } : {}),
    ...(scan.serviceAccountKeys ? { serviceAccountKeyRotation: { keys: scan.serviceAccountKeys } } : {}),
  };
}

/** check reads the leaves' keys (to tell a key that does not match) and only looks whether CA keys are there. */
function checkScanOptions(globals: GlobalOptions) {
  return { ...scanOptionsOf(globals), keys: { ca: false, leaf: 'match' as const } };
}

/** --at DATE or --in DURATION: the moment the certificates are judged at (default: now). */
export function judgedAt(opts: { at?: string; in?: string }): Date {
  if (opts.at && opts.in) throw new UsageError('give --at or --in, not both');
  if (opts.in) return new Date(Date.now() + durationFlag('--in', opts.in));
  return opts.at ? dateFlag('--at', opts.at) : new Date();
}
