// kpki exporter: /metrics for Prometheus (enix x509-certificate-exporter's names and labels, plus kpki's own), / an
// HTML status page, /healthz. Reads this node (or --root), or every node of an inventory over SSH, on each scrape
// (at most once per --min-interval; concurrent scrapes share one read). SSH connections stay open between scrapes.
import { Command, Option } from 'commander';
import http from 'node:http';
import { scanNode, ScanOptions } from '../node/scan/index.js';
import { readTimerState } from '../automation/timer-state.js';
import { mapBounded } from '../cluster/connect.js';
import { HostPool } from '../cluster/host-pool.js';
import { withTimeout } from '../api/http.js';
import { ExporterMetrics, METRICS_COMPAT, type MetricsCompat, NodeMetricsInput } from '../report/prometheus.js';
import { renderStatusPage } from '../report/status-page.js';
import { KpkiError, UsageError, describeError } from '../errors.js';
import { action, globalsOf, GlobalOptions, hostOf, inventoryNodesOf, scanOptionsOf } from './context.js';
import { durationFlag } from './flags.js';
import { LocalHost } from '../hosts/local.js';

/** Reads the metrics' inputs on every scrape; close() ends what it keeps open between scrapes. */
interface Reader {
  read(): Promise<NodeMetricsInput[]>;
  close(): void;
}

/**
 * This node (or --root). Its files are read through the thread pool (asyncReads): a read that hangs on a dead disk
 * holds a pool thread, the server keeps answering /healthz, and the scrape reports the node unreadable after the
 * timeout.
 */
function nodeReader(globals: GlobalOptions, scan: ScanOptions, timeoutMs: number, nodeName?: string): Reader {
  const host = new LocalHost(hostOf(globals).root, undefined, { asyncReads: true });
  // in a pod the node's files are under --root: the node label is the node's name ($NODE_NAME), not that path
  const node = nodeName ?? process.env.NODE_NAME ?? host.name;
  return {
    async read() {
      const started = Date.now();
      try {
        const reading = (async () => ({ inventory: await scanNode(host, scan), timer: await readTimerState(host) }))();
        const { inventory, timer } = await withTimeout(reading, timeoutMs, `${node}: no answer from its disk within ${timeoutMs / 1000} s`);
        return [{ node, scan: inventory, timer, scrapeSeconds: (Date.now() - started) / 1000 }];
      } catch (err) {
        return [{ node, error: describeError(err), scrapeSeconds: (Date.now() - started) / 1000 }];
      }
    },
    close() {},
  };
}

/** Every node of the inventory over SSH, connections kept between scrapes (one reconnect after a failure). */
function inventoryReader(globals: GlobalOptions, scan: ScanOptions, timeoutMs: number): Reader {
  const nodes = inventoryNodesOf(globals);
  const pool = new HostPool({ acceptNewHostKeys: Boolean(globals.acceptNewHostKeys), timeoutMs: 10_000 });
  return {
    read: () =>
      mapBounded(nodes, globals.concurrency, async (node): Promise<NodeMetricsInput> => {
        const started = Date.now();
        try {
          const reading = (async () => {
            const host = await pool.get(node);
            return { inventory: await scanNode(host, scan), timer: await readTimerState(host) };
          })();
          const { inventory, timer } = await withTimeout(reading, timeoutMs, `${node.name}: no answer within ${timeoutMs / 1000} s`);
          return { node: node.name, role: node.role, scan: inventory, timer, scrapeSeconds: (Date.now() - started) / 1000 };
        } catch (err) {
          pool.drop(node.name);
          return { node: node.name, role: node.role, error: describeError(err), scrapeSeconds: (Date.now() - started) / 1000 };
        }
      }),
    close: () => pool.closeAll(),
  };
}

export function listenFlag(value: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(value);
  if (!m) throw new UsageError(`--listen: "${value}" is not ADDRESS:PORT (e.g. 127.0.0.1:9793)`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

type ExporterFlags = {
  listen: string;
  minInterval: string;
  once?: boolean;
  nodeName?: string;
  checkKeys?: boolean;
  readTimeout: string;
  metricsCompat: MetricsCompat;
};

export function exporterCommand(): Command {
  return new Command('exporter')
    .description(
      'serve Prometheus metrics (/metrics, x509-certificate-exporter compatible) and a status page (/) for this node or an inventory',
    )
    .option('--listen <address:port>', 'where to listen', '127.0.0.1:9793')
    .option('--min-interval <duration>', 'read the nodes at most this often (scrapes in between get the last reading)', '15s')
    .option('--once', 'print the metrics once on stdout and exit (no server)')
    .option('--node-name <name>', 'the node label for this node (default: $NODE_NAME, else the host name or --root)')
    .option('--check-keys', "also read the leaves' private keys, to report keys that do not match (CA keys are never read)")
    .option(
      '--read-timeout <duration>',
      "how long one node's reading may take before it counts as a read error (a hung disk, a dead connection)",
      '30s',
    )
    .addOption(
      new Option(
        '--metrics-compat <names>',
        "x509-certificate-exporter's metric names: v4 (its current ones), v3 (x509_read_errors, labels only where they apply), or both (v4 and x509_read_errors, for dashboards of either)",
      )
        .choices(METRICS_COMPAT)
        .default('v4'),
    )
    .action(
      action(async (opts: ExporterFlags, command: Command) => {
        const globals = globalsOf(command);
        // a scrape reads no private key unless asked: only whether it is there
        const scan: ScanOptions = { ...scanOptionsOf(globals), keys: { ca: false, leaf: Boolean(opts.checkKeys) } };
        const timeoutMs = durationFlag('--read-timeout', opts.readTimeout);
        const reader = globals.inventory ? inventoryReader(globals, scan, timeoutMs) : nodeReader(globals, scan, timeoutMs, opts.nodeName);
        if (!opts.once) return serve(reader, opts, globals);
        try {
          const metrics = new ExporterMetrics(opts.metricsCompat);
          const nodes = await reader.read();
          metrics.observe(nodes);
          process.stdout.write(await metrics.registry(nodes).metrics());
        } finally {
          reader.close();
        }
        return 0;
      }),
    );
}

/** The HTTP server: /healthz at once (never behind a reading), /metrics and / from a reading at most --min-interval old. */
async function serve(reader: Reader, opts: ExporterFlags, globals: GlobalOptions): Promise<number> {
  const { host, port } = listenFlag(opts.listen);
  const minMs = durationFlag('--min-interval', opts.minInterval);
  const metrics = new ExporterMetrics(opts.metricsCompat);
  let last: { at: number; nodes: NodeMetricsInput[] } | undefined;
  let pending: Promise<NodeMetricsInput[]> | undefined;
  const current = async () => {
    if (last && Date.now() - last.at < minMs) return last.nodes;
    pending ??= reader.read().then((nodes) => {
      last = { at: Date.now(), nodes };
      metrics.observe(nodes);
      pending = undefined;
      return nodes;
    });
    return pending;
  };
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (path === '/healthz') return reply(200, 'text/plain', 'ok\n');
    if (path !== '/metrics' && path !== '/') return reply(404, 'text/plain', 'not found\n');
    const timer = path === '/metrics' ? metrics.scrapeDuration?.startTimer() : undefined;
    current()
      .then(async (nodes) => {
        if (path === '/metrics') {
          timer?.(); // (this scrape's own time shows in the next one: its text is already being written)
          const registry = metrics.registry(nodes);
          reply(200, registry.contentType, await registry.metrics());
        } else reply(200, 'text/html; charset=utf-8', renderStatusPage(nodes, new Date()));
      })
      .catch((err: Error) => reply(500, 'text/plain', `${err.message}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new KpkiError(`cannot listen on ${opts.listen}: ${err.message}`)));
    server.listen(port, host, () => resolve());
  });
  process.stderr.write(
    `kpki exporter: http://${opts.listen}/metrics and http://${opts.listen}/ (${globals.inventory ? `inventory ${globals.inventory}` : `node ${hostOf(globals).describe('/')}`})\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      reader.close();
      server.close(() => resolve());
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}
