// Prometheus metrics for what the scans found, with the names and labels of enix's x509-certificate-exporter, so its
// dashboards and alert rules work as they are. v4 (its 2026 rewrite, kpki's default): every x509_cert_* series carries
// the one fixed label set (filename, filepath, embedded_kind, embedded_key, serial_number, subject_*, issuer_*; empty
// where a label does not apply), the x509_source_* family (a source is one node's files, or its kubeconfigs),
// x509_scrape_duration_seconds and x509_exporter_build_info. v3 (--metrics-compat v3): the labels a certificate has,
// and x509_read_errors. Both at once (--metrics-compat both): v4 plus x509_read_errors, for a dashboard of each.
// Plus a `node` label everywhere, kpki's own metrics (reachability, renewal runs) and every problem kpki finds as
// kpki_certificate_problem, which an alert can select.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Certificate } from '../pki/certificate.js';
import type { NodeScan, ProblemCode } from '../node/scan/index.js';
import type { TimerState } from '../automation/timer-state.js';

export interface NodeMetricsInput {
  node: string;
  role?: string;
  scan?: NodeScan;
  error?: string;
  timer?: TimerState;
  scrapeSeconds?: number;
}

const NAME_FIELDS = ['C', 'ST', 'L', 'O', 'OU', 'CN'] as const;
const LABELS = [
  'node',
  'filename',
  'filepath',
  'serial_number',
  'embedded_kind',
  'embedded_key',
  ...NAME_FIELDS.map((f) => `subject_${f}`),
  ...NAME_FIELDS.map((f) => `issuer_${f}`),
];

/** The serial as enix prints it: Go's big.Int in decimal (negative ones with their sign). */
const decimalSerial = (hex: string) =>
  hex.startsWith('-') ? `-${BigInt(`0x${hex.slice(1) || '0'}`).toString(10)}` : BigInt(`0x${hex || '0'}`).toString(10);

function certLabels(
  node: string,
  path: string,
  cert: Certificate,
  embedded?: { kind: 'user' | 'cluster'; key: string },
): Record<string, string> {
  const labels: Record<string, string> = {
    node,
    filename: path.split('/').pop() ?? path,
    filepath: path,
    serial_number: decimalSerial(cert.serial),
  };
  for (const f of NAME_FIELDS) {
    const subject = cert.subjectAttributes.find((a) => a.key === f)?.value;
    const issuer = cert.issuerAttributes.find((a) => a.key === f)?.value;
    if (subject) labels[`subject_${f}`] = subject;
    if (issuer) labels[`issuer_${f}`] = issuer;
  }
  if (embedded) Object.assign(labels, { embedded_kind: embedded.kind, embedded_key: embedded.key });
  return labels;
}

interface Found {
  labels: Record<string, string>;
  cert: Certificate;
}

/** Every certificate of a node once: files (leaves, CAs, the kubelet PEM) and what kubeconfigs embed. */
function certificatesOf(node: string, scan: NodeScan): { found: Found[]; errors: { node: string; filename: string; filepath: string }[] } {
  const found: Found[] = [];
  const errors: { node: string; filename: string; filepath: string }[] = [];
  const seen = new Set<string>();
  const add = (path: string, cert: Certificate, embedded?: { kind: 'user' | 'cluster'; key: string }) => {
    const key = `${path}|${embedded?.kind ?? ''}|${embedded?.key ?? ''}|${cert.serial}`;
    if (seen.has(key)) return;
    seen.add(key);
    found.push({ labels: certLabels(node, path, cert, embedded), cert });
  };
  for (const ca of scan.cas) {
    if (ca.cert && !ca.embeddedOnly) add(ca.certPath, ca.cert);
    if (ca.problems.some((p) => p.code === 'unreadable'))
      errors.push({ node, filename: ca.certPath.split('/').pop()!, filepath: ca.certPath });
  }
  for (const e of scan.entries) {
    if (e.problems.some((p) => p.code === 'unreadable')) errors.push({ node, filename: e.path.split('/').pop()!, filepath: e.path });
    if (!e.cert) continue;
    if (e.kind === 'kubeconfig' && e.kubeconfig?.clientCertificateData) add(e.path, e.cert, { kind: 'user', key: e.kubeconfig.userName });
    else add(e.path, e.cert);
  }
  for (const e of scan.entries.filter((x) => x.kind === 'kubeconfig' && x.kubeconfig?.certificateAuthorityData)) {
    const ca = scan.cas.find((c) => c.cert?.der.equals(pemToDer(e.kubeconfig!.certificateAuthorityData!)));
    if (ca?.cert) add(e.path, ca.cert, { kind: 'cluster', key: e.kubeconfig!.clusterName ?? '' });
  }
  return { found, errors };
}

function pemToDer(pem: Buffer): Buffer {
  const text = pem.toString('utf8');
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(text);
  return m ? Buffer.from(m[1].replace(/\s+/g, ''), 'base64') : pem;
}

export const METRICS_COMPAT = ['v4', 'v3', 'both'] as const;
export type MetricsCompat = (typeof METRICS_COMPAT)[number];

/** kpki's problem codes as the problem label says them (the names an alert selects). */
const PROBLEM_NAMES: Partial<Record<ProblemCode, string>> = {
  'chain-invalid': 'chain',
  'ca-data-stale': 'stale-ca-data',
};

/** Every problem of a node: per certificate (and CA), and the node's own (a journal, requests waiting). */
export function problemsOf(scan: NodeScan): { certificate: string; filepath: string; problem: string }[] {
  const out = new Map<string, { certificate: string; filepath: string; problem: string }>();
  const add = (certificate: string, filepath: string, code: string) => {
    const problem = PROBLEM_NAMES[code as ProblemCode] ?? code;
    out.set(`${certificate}|${filepath}|${problem}`, { certificate, filepath, problem });
  };
  // (a file's mode or owner is said of that file, the key as much as the certificate: scan.files has them all)
  const ofFiles = new Set<ProblemCode>(['loose-mode', 'wrong-owner']);
  for (const ca of scan.cas) for (const p of ca.problems) if (!ofFiles.has(p.code)) add(ca.name, ca.certPath, p.code);
  for (const e of scan.entries) for (const p of e.problems) if (!ofFiles.has(p.code)) add(e.name, e.path, p.code);
  for (const f of scan.files ?? []) add(f.entry ?? '', f.path, f.code);
  if (scan.interrupted) add('', '', 'journal-pending');
  for (const r of scan.pendingRequests ?? []) add(r.name, r.keyPath, 'import-pending');
  if (scan.servingCsrs?.pending.length) add('kubelet-serving', '', 'csr-pending');
  return [...out.values()];
}

/** What a scrape's certificate read errors are, by source (a node's files or its kubeconfigs) and enix's reason. */
function readErrorsOf(n: NodeMetricsInput): { source_kind: string; source_name: string; reason: string }[] {
  if (!n.scan) return [{ source_kind: 'file', source_name: n.node, reason: 'read_failed' }];
  return [...n.scan.cas, ...n.scan.entries]
    .filter((e) => e.problems.some((p) => p.code === 'unreadable'))
    .map((e) => ({
      source_kind: 'kind' in e && e.kind === 'kubeconfig' ? 'kubeconfig' : 'file',
      source_name: n.node,
      reason: 'read_failed',
    }));
}

/**
 * The exporter's metrics over its life: per reading, what the nodes hold; across readings, the counters and the
 * scrape-time histogram v4 defines. One per exporter process (or one --once run).
 */
export class ExporterMetrics {
  private readonly lasting = new Registry();
  private readonly sourceErrors?: Counter;
  readonly scrapeDuration?: Histogram;

  constructor(
    readonly compat: MetricsCompat = 'v4',
    build: { version: string } = { version: '0.1.0' },
  ) {
    if (compat === 'v3') return;
    this.sourceErrors = new Counter({
      name: 'x509_source_errors_total',
      help: 'Read errors of a source (one node: its files, or its kubeconfigs), by reason',
      labelNames: ['source_kind', 'source_name', 'reason'],
      registers: [this.lasting],
    });
    this.scrapeDuration = new Histogram({
      name: 'x509_scrape_duration_seconds',
      help: 'Time spent serving one /metrics request',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30],
      registers: [this.lasting],
    });
    new Gauge({
      name: 'x509_exporter_build_info',
      help: "The exporter's build: kpki's version, and the runtime it runs on",
      labelNames: ['version', 'runtime', 'os', 'arch'],
      registers: [this.lasting],
    }).set({ version: build.version, runtime: `node ${process.version}`, os: process.platform, arch: process.arch }, 1);
  }

  /** A new reading of the nodes: its read errors are counted once, however many scrapes then show it. */
  observe(nodes: NodeMetricsInput[]): void {
    for (const n of nodes) for (const e of readErrorsOf(n)) this.sourceErrors?.inc(e);
  }

  /** The metrics of a reading, with what lasts across readings. */
  registry(nodes: NodeMetricsInput[], now = new Date()): Registry {
    return Registry.merge([buildRegistry(nodes, now, this.compat), this.lasting]);
  }
}

/** The gauges of one reading: enix's per-certificate and per-source ones as `compat` names them, and kpki's own. */
function gaugesOf(registry: Registry, compat: MetricsCompat) {
  const v4 = compat !== 'v3';
  const gauge = (name: string, help: string, labelNames: string[] = LABELS) => new Gauge({ name, help, labelNames, registers: [registry] });
  const source = ['source_kind', 'source_name'];
  return {
    // v4: the one fixed label set on every per-certificate series, empty where a label does not apply
    fixed: (labels: Record<string, string>) => (v4 ? { ...Object.fromEntries(LABELS.map((l) => [l, ''])), ...labels } : labels),
    notAfter: gauge('x509_cert_not_after', "Indicates the certificate's not after timestamp"),
    notBefore: gauge('x509_cert_not_before', "Indicates the certificate's not before timestamp"),
    expired: gauge('x509_cert_expired', 'Indicates if the certificate is expired'),
    expiresIn: gauge('x509_cert_expires_in_seconds', "Indicates the remaining time before the certificate's not after timestamp"),
    validSince: gauge('x509_cert_valid_since_seconds', "Indicates the elapsed time since the certificate's not before timestamp"),
    certError: gauge(
      'x509_cert_error',
      'Indicates wether the corresponding file has read failure(s)',
      v4 ? LABELS : ['node', 'filename', 'filepath'],
    ),
    readErrors: compat !== 'v4' ? gauge('x509_read_errors', 'Indicates the number of read failure(s)', []) : undefined,
    sourceUp: v4
      ? gauge('x509_source_up', 'Whether the source (a node: its files, or its kubeconfigs) was read (1) or not (0)', source)
      : undefined,
    sourceBundles: v4 ? gauge('x509_source_bundles', 'Files the source holds certificates in', source) : undefined,
    problem: gauge('kpki_certificate_problem', 'A problem kpki finds (1): on a certificate, a CA, a file, or the node', [
      'node',
      'certificate',
      'filepath',
      'problem',
    ]),
    reachable: gauge('kpki_node_reachable', 'Whether kpki could read the node (1) or not (0)', ['node', 'role']),
    scrape: gauge('kpki_node_scrape_duration_seconds', 'How long reading the node took', ['node']),
    lastRun: gauge('kpki_renewal_last_run_timestamp_seconds', 'When the renewal timer last ran on the node', ['node']),
    lastSuccessAt: gauge('kpki_renewal_last_success_timestamp_seconds', 'When the renewal timer last succeeded on the node', ['node']),
    lastSuccess: gauge('kpki_renewal_last_success', 'Whether the last renewal run on the node succeeded (1) or failed (0)', ['node']),
    soonest: gauge('kpki_node_first_expiry_timestamp_seconds', 'The earliest not-after of any leaf certificate on the node', ['node']),
  };
}

/** One node read: its certificates, sources, problems and renewal runs into the gauges; its read errors, counted. */
function recordNode(g: ReturnType<typeof gaugesOf>, n: NodeMetricsInput & { scan: NodeScan }, now: Date): number {
  const { found, errors: unreadable } = certificatesOf(n.node, n.scan);
  for (const e of unreadable) g.certError.set(g.fixed(e), 1);
  for (const f of found) {
    const labels = g.fixed(f.labels);
    g.notAfter.set(labels, Math.floor(f.cert.notAfter.getTime() / 1000));
    g.notBefore.set(labels, Math.floor(f.cert.notBefore.getTime() / 1000));
    g.expired.set(labels, f.cert.notAfter <= now ? 1 : 0);
    g.expiresIn.set(labels, (f.cert.notAfter.getTime() - now.getTime()) / 1000);
    g.validSince.set(labels, (now.getTime() - f.cert.notBefore.getTime()) / 1000);
  }
  const present = n.scan.entries.filter((e) => !e.missing);
  const kubeconfigs = new Set(present.filter((e) => e.kind === 'kubeconfig').map((e) => e.path));
  const files = new Set([
    ...n.scan.cas.filter((c) => !c.embeddedOnly && !c.missing).map((c) => c.certPath),
    ...present.filter((e) => e.kind !== 'kubeconfig').map((e) => e.path),
  ]);
  g.sourceBundles?.set({ source_kind: 'file', source_name: n.node }, files.size);
  g.sourceBundles?.set({ source_kind: 'kubeconfig', source_name: n.node }, kubeconfigs.size);
  for (const p of problemsOf(n.scan)) g.problem.set({ node: n.node, ...p }, 1);
  const leaves = n.scan.entries.filter((e) => e.cert).map((e) => e.cert!.notAfter.getTime());
  if (leaves.length) g.soonest.set({ node: n.node }, Math.floor(Math.min(...leaves) / 1000));
  if (n.timer?.lastRunAt) g.lastRun.set({ node: n.node }, Math.floor(Date.parse(n.timer.lastRunAt) / 1000));
  if (n.timer?.lastSuccessAt) g.lastSuccessAt.set({ node: n.node }, Math.floor(Date.parse(n.timer.lastSuccessAt) / 1000));
  if (n.timer?.lastResult) g.lastSuccess.set({ node: n.node }, n.timer.lastResult === 'failure' ? 0 : 1);
  return unreadable.length;
}

export function buildRegistry(nodes: NodeMetricsInput[], now = new Date(), compat: MetricsCompat = 'v4'): Registry {
  const registry = new Registry();
  const g = gaugesOf(registry, compat);
  let errors = 0;
  for (const n of nodes) {
    g.reachable.set({ node: n.node, role: n.role ?? n.scan?.role ?? 'unknown' }, n.scan ? 1 : 0);
    for (const kind of ['file', 'kubeconfig']) g.sourceUp?.set({ source_kind: kind, source_name: n.node }, n.scan ? 1 : 0);
    if (n.scrapeSeconds !== undefined) g.scrape.set({ node: n.node }, n.scrapeSeconds);
    errors += n.scan ? recordNode(g, { ...n, scan: n.scan }, now) : 1;
  }
  g.readErrors?.set(errors);
  return registry;
}
