// Prometheus metrics for what the scans found, with the names and labels of enix's x509-certificate-exporter
// (x509_cert_not_after, x509_cert_not_before, x509_cert_expired, x509_cert_expires_in_seconds,
// x509_cert_valid_since_seconds, x509_cert_error, x509_read_errors; labels filename, filepath, serial_number,
// subject_*/issuer_* and embedded_kind/embedded_key for kubeconfigs) so its dashboards and alert rules work as they are,
// plus a `node` label and kpki's own metrics (renewal runs, reachability).
import { Gauge, Registry } from 'prom-client';
import type { Certificate } from '../pki/certificate.js';
import type { NodeScan } from '../node/scan/index.js';
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

export function buildRegistry(nodes: NodeMetricsInput[], now = new Date()): Registry {
  const registry = new Registry();
  const gauge = (name: string, help: string, labelNames: string[] = LABELS) => new Gauge({ name, help, labelNames, registers: [registry] });
  const notAfter = gauge('x509_cert_not_after', "Indicates the certificate's not after timestamp");
  const notBefore = gauge('x509_cert_not_before', "Indicates the certificate's not before timestamp");
  const expired = gauge('x509_cert_expired', 'Indicates if the certificate is expired');
  const expiresIn = gauge('x509_cert_expires_in_seconds', "Indicates the remaining time before the certificate's not after timestamp");
  const validSince = gauge('x509_cert_valid_since_seconds', "Indicates the elapsed time since the certificate's not before timestamp");
  const certError = gauge('x509_cert_error', 'Indicates wether the corresponding file has read failure(s)', [
    'node',
    'filename',
    'filepath',
  ]);
  const readErrors = gauge('x509_read_errors', 'Indicates the number of read failure(s)', []);
  const reachable = gauge('kpki_node_reachable', 'Whether kpki could read the node (1) or not (0)', ['node', 'role']);
  const scrape = gauge('kpki_node_scrape_duration_seconds', 'How long reading the node took', ['node']);
  const lastRun = gauge('kpki_renewal_last_run_timestamp_seconds', 'When the renewal timer last ran on the node', ['node']);
  const lastSuccessAt = gauge('kpki_renewal_last_success_timestamp_seconds', 'When the renewal timer last succeeded on the node', ['node']);
  const lastSuccess = gauge('kpki_renewal_last_success', 'Whether the last renewal run on the node succeeded (1) or failed (0)', ['node']);
  const soonest = gauge('kpki_node_first_expiry_timestamp_seconds', 'The earliest not-after of any leaf certificate on the node', ['node']);
  let errors = 0;
  for (const n of nodes) {
    reachable.set({ node: n.node, role: n.role ?? n.scan?.role ?? 'unknown' }, n.scan ? 1 : 0);
    if (n.scrapeSeconds !== undefined) scrape.set({ node: n.node }, n.scrapeSeconds);
    if (!n.scan) {
      errors++;
      continue;
    }
    const { found, errors: unreadable } = certificatesOf(n.node, n.scan);
    for (const e of unreadable) certError.set(e, 1);
    errors += unreadable.length;
    for (const f of found) {
      notAfter.set(f.labels, Math.floor(f.cert.notAfter.getTime() / 1000));
      notBefore.set(f.labels, Math.floor(f.cert.notBefore.getTime() / 1000));
      expired.set(f.labels, f.cert.notAfter <= now ? 1 : 0);
      expiresIn.set(f.labels, (f.cert.notAfter.getTime() - now.getTime()) / 1000);
      validSince.set(f.labels, (now.getTime() - f.cert.notBefore.getTime()) / 1000);
    }
    const leaves = n.scan.entries.filter((e) => e.cert).map((e) => e.cert!.notAfter.getTime());
    if (leaves.length) soonest.set({ node: n.node }, Math.floor(Math.min(...leaves) / 1000));
    if (n.timer?.lastRunAt) lastRun.set({ node: n.node }, Math.floor(Date.parse(n.timer.lastRunAt) / 1000));
    if (n.timer?.lastSuccessAt) lastSuccessAt.set({ node: n.node }, Math.floor(Date.parse(n.timer.lastSuccessAt) / 1000));
    if (n.timer?.lastResult) lastSuccess.set({ node: n.node }, n.timer.lastResult === 'failure' ? 0 : 1);
  }
  readErrors.set(errors);
  return registry;
}
