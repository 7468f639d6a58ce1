// kpki's own tables: kubeadm's columns plus STATUS (default), and a wide form with path, subject, SANs, key, serial.
import { CertEntry, isExternallyManaged, keyPathOf, NodeScan, OWN_CA } from '../node/scan/index.js';
import { kubeadmDate, shortHumanDuration } from './kubeadm-format.js';
import { Severity, statusOf, Thresholds } from './status.js';

const COLOURS: Record<Severity, string> = { 0: '\x1b[32m', 1: '\x1b[33m', 2: '\x1b[31m', 3: '\x1b[35m' };
const RESET = '\x1b[0m';

export function renderColumns(rows: string[][], colourOf?: (row: number) => string | undefined): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row, r) => {
      const line = row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] + 3)))
        .join('')
        .trimEnd();
      const colour = colourOf?.(r);
      return colour ? `${colour}${line}${RESET}` : line;
    })
    .join('\n');
}

function residual(notAfter: Date, now: Date): string {
  return shortHumanDuration(Math.trunc((notAfter.getTime() - now.getTime()) / 1000));
}

/** Who signed an entry, in words: a CA of the node by name, or the CA the file itself carries. */
export function signerLabel(e: CertEntry): string {
  if (e.signer === OWN_CA) return e.name === 'kubelet-serving' ? "the kubelet's own CA" : 'own CA (in the file)';
  return e.signer ?? e.expectedCa ?? '-';
}

export const CERT_HEADER = ['CERTIFICATE', 'EXPIRES', 'RESIDUAL TIME', 'CERTIFICATE AUTHORITY', 'EXTERNALLY MANAGED', 'STATUS'];
export const CA_HEADER = ['CERTIFICATE AUTHORITY', 'EXPIRES', 'RESIDUAL TIME', 'EXTERNALLY MANAGED', 'STATUS'];

/** The rows of the certificate table (no header), with each row's severity. */
export function certificateRows(scan: NodeScan, thresholds: Thresholds): { rows: string[][]; severities: Severity[] } {
  const now = thresholds.now;
  const severities: Severity[] = [];
  const rows: string[][] = [];
  for (const e of scan.entries) {
    const status = statusOf(e, thresholds);
    severities.push(status.severity);
    rows.push([
      e.name,
      e.cert ? kubeadmDate(e.cert.notAfter) : '-',
      e.cert ? residual(e.cert.notAfter, now) : '-',
      signerLabel(e),
      e.cert ? (isExternallyManaged(scan, e) ? 'yes' : 'no') : '-',
      status.labels.join(', '),
    ]);
  }
  return { rows, severities };
}

/** The rows of the CA table (no header), with each row's severity. */
export function caRows(scan: NodeScan, thresholds: Thresholds): { rows: string[][]; severities: Severity[] } {
  const severities: Severity[] = [];
  const rows: string[][] = [];
  for (const ca of scan.cas) {
    const status = statusOf(ca, thresholds);
    severities.push(status.severity);
    rows.push([
      ca.embeddedOnly ? `${ca.name} (embedded)` : ca.name,
      ca.cert ? kubeadmDate(ca.cert.notAfter) : '-',
      ca.cert ? residual(ca.cert.notAfter, thresholds.now) : '-',
      ca.keyPresent ? 'no' : 'yes',
      status.labels.join(', '),
    ]);
  }
  return { rows, severities };
}

export function renderTable(scan: NodeScan, thresholds: Thresholds, colour: boolean): string {
  const certs = certificateRows(scan, thresholds);
  const cas = caRows(scan, thresholds);
  const rows = [CERT_HEADER, ...certs.rows];
  const caTable = [CA_HEADER, ...cas.rows];
  const severities = certs.severities;
  const caSeverities = cas.severities;
  const paint = (list: Severity[]) => (colour ? (r: number) => (r === 0 ? undefined : COLOURS[list[r - 1]]) : undefined);
  return `${renderColumns(rows, paint(severities))}\n\n${renderColumns(caTable, paint(caSeverities))}\n${renderServingCsrs(scan)}${renderFileFindings(scan)}${renderInterrupted(scan)}${renderPendingRequests(scan)}${renderKeyRotation(scan)}`;
}

/** A service-account key rotation in progress (sa.pub verifies more than one key); not a problem. */
export function renderKeyRotation(scan: NodeScan): string {
  const keys = scan.serviceAccountKeys;
  if (!keys) return '';
  return `
Service-account key rotation in progress: sa.pub verifies ${keys} keys (kpki ca rotate --ca sa --phase verify tells where it stands)
`;
}

/** Requests for an external CA whose signed certificates were not imported yet. */
export function renderPendingRequests(scan: NodeScan): string {
  const pending = scan.pendingRequests ?? [];
  if (pending.length === 0) return '';
  return `\nWaiting for the external CA (kpki csr): ${pending.map((p) => `${p.name} (${p.keyPath})`).join(', ')}: install the signed certificates with kpki import\n`;
}

/** A journal an interrupted run left, and what the next run does with it. */
export function renderInterrupted(scan: NodeScan): string {
  const run = scan.interrupted;
  if (!run) return '';
  const next = run.backupPresent
    ? `the next renew, restore or recover rolls it back from backup ${run.backupId} first`
    : `its backup ${run.backupId} is gone: when every certificate above matches its key, drop the journal with \`kpki renew --discard-journal\``;
  return `\nInterrupted: a ${run.operation} started ${run.startedAt} was killed half-way and left its journal; ${next}\n`;
}

/** serverTLSBootstrap: whether the kubelet's serving certificate waits for an approval (empty where not asked). */
export function renderServingCsrs(scan: NodeScan): string {
  const csrs = scan.servingCsrs;
  if (!csrs) return '';
  const head = '\nKubelet serving certificate from the cluster (serverTLSBootstrap):';
  if (!csrs.checked) return `${head} could not ask the API: ${csrs.error}\n`;
  if (csrs.pending.length === 0) return `${head} no CSR waits for approval (asked as ${csrs.via})\n`;
  const lines = csrs.pending.map(
    (c) => `  ${c.name} from ${c.username}${c.createdAt ? ` since ${c.createdAt}` : ''}: kubectl certificate approve ${c.name}`,
  );
  return `${head} ${csrs.pending.length} CSR(s) wait for approval (kubeadm does not approve them):\n${lines.join('\n')}\n`;
}

/** The CIS file mode and owner findings, each with the command that fixes it (empty when there are none). */
export function renderFileFindings(scan: NodeScan): string {
  if (!scan.files?.length) return '';
  const lines = ['', 'File modes and owners (CIS Kubernetes Benchmark 1.1):'];
  for (const f of scan.files) lines.push(`  ${f.message}`, `    fix: ${f.fix}`);
  return `${lines.join('\n')}\n`;
}

export function renderWide(scan: NodeScan, thresholds: Thresholds): string {
  const rows: string[][] = [['CERTIFICATE', 'EXPIRES', 'STATUS', 'PATH', 'SUBJECT', 'SANS', 'KEY', 'SERIAL', 'SIGNED BY']];
  const items = [
    ...scan.cas.map((ca) => ({ name: `${ca.name} (CA)`, item: ca, path: ca.certPath, signer: 'self' })),
    ...scan.entries.map((e) => ({ name: e.name, item: e, path: e.path, signer: e.signer ? signerLabel(e) : '-' })),
  ];
  for (const { name, item, path, signer } of items) {
    const cert = item.cert;
    rows.push([
      name,
      cert ? kubeadmDate(cert.notAfter) : '-',
      statusOf(item, thresholds).labels.join(', '),
      path,
      cert?.subject ?? '-',
      cert ? [...cert.dnsNames.map((d) => `DNS:${d}`), ...cert.ipAddresses.map((i) => `IP:${i}`)].join(',') || '-' : '-',
      cert?.keyAlgorithm ?? '-',
      cert?.serial ?? '-',
      signer,
    ]);
  }
  return `${renderColumns(rows)}\n${renderFileFindings(scan)}`;
}

/** kpki's extra detail for the json/yaml forms, keyed like expirationInfo's `extra` callback. */
export function detailFor(scan: NodeScan, thresholds: Thresholds) {
  return (key: string): Record<string, unknown> => {
    const item = key.startsWith('ca:') ? scan.cas.find((c) => `ca:${c.name}` === key) : scan.entries.find((e) => e.name === key);
    if (!item) return {};
    const cert = item.cert;
    const status = statusOf(item, thresholds);
    const path = 'certPath' in item ? item.certPath : item.path;
    return {
      path,
      status: status.labels,
      severity: status.severity,
      problems: item.problems.map((p) => ({ code: p.code, message: p.message })),
      ...(cert
        ? {
            subject: cert.subject,
            issuer: cert.issuer,
            serial: cert.serial,
            notBefore: cert.notBefore.toISOString(),
            notAfter: cert.notAfter.toISOString(),
            dnsNames: cert.dnsNames,
            ipAddresses: cert.ipAddresses,
            extKeyUsages: cert.extKeyUsages,
            keyAlgorithm: cert.keyAlgorithm,
            spkiSha256: cert.spkiSha256,
          }
        : {}),
      ...('renewable' in item
        ? { renewable: item.renewable, notRenewable: item.notRenewable, source: item.source, ...entryDetail(item) }
        : {}),
    };
  };
}

function entryDetail(e: CertEntry): Record<string, unknown> {
  const keyPath = keyPathOf(e);
  return {
    ...(keyPath ? { keyPath } : {}),
    ...(e.chain?.length ? { chain: e.chain.map((c) => ({ subject: c.subject, notAfter: c.notAfter.toISOString() })) } : {}),
    ...(e.signer === OWN_CA && e.ownCa
      ? { signedBy: `${signerLabel(e)} ${e.ownCa.subject}, written after the certificate in ${e.path}` }
      : {}),
  };
}
