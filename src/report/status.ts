// Time-based status of entries against warn/crit thresholds, and the Nagios-style severity it implies.
import type { CaEntry, CertEntry, NodeScan, Problem } from '../node/scan/index.js';
import { EXPIRY_IS_WARNING, KUBECONFIG_CATALOG } from '../kubeadm/catalog.js';

export interface Thresholds {
  warnMs: number;
  critMs: number;
  now: Date;
}

export type Severity = 0 | 1 | 2 | 3;

export interface Status {
  severity: Severity;
  /** Short words for the STATUS column: "ok", "expired", "expiring 12d", "key mismatch", ... */
  labels: string[];
}

const PROBLEM_LABEL: Record<Problem['code'], string> = {
  missing: 'missing',
  unreadable: 'unreadable',
  'key-missing': 'key missing',
  'key-mismatch': 'key mismatch',
  'not-signed-by-ca': 'not signed by its CA',
  'wrong-ca': 'wrong CA',
  'ca-data-stale': 'stale CA data',
  'not-yet-valid': 'not yet valid',
  'loose-mode': 'loose mode',
  'wrong-owner': 'wrong owner',
  'not-utf8': 'not UTF-8',
  'chain-invalid': 'invalid chain',
  'outlives-ca': 'outlives its CA',
};

const PROBLEM_SEVERITY: Record<Problem['code'], Severity> = {
  missing: 2,
  unreadable: 3,
  'key-missing': 2,
  'key-mismatch': 2,
  'not-signed-by-ca': 2,
  'wrong-ca': 2,
  'ca-data-stale': 1,
  'not-yet-valid': 2,
  // CIS benchmark findings: worth fixing, not an outage
  'loose-mode': 1,
  'wrong-owner': 1,
  // kubectl reads it; kpki refuses to rewrite bytes it cannot give back as they were
  'not-utf8': 1,
  // Go and openssl reject the chain
  'chain-invalid': 2,
  // it stops working at its CA's expiry, before its own
  'outlives-ca': 1,
};

const OPTIONAL = new Set(KUBECONFIG_CATALOG.filter((e) => e.optional).map((e) => e.name));

export function statusOf(item: CertEntry | CaEntry, thresholds: Thresholds): Status {
  const labels: string[] = [];
  let severity: Severity = 0;
  const raise = (s: Severity) => {
    if (s > severity) severity = s;
  };
  if (item.missing) {
    // super-admin.conf exists only on the node that ran `kubeadm init` (1.29+): elsewhere its absence is normal
    if (OPTIONAL.has(item.name)) labels.push('missing (only the init node has it)');
    else {
      labels.push('missing');
      raise(2);
    }
  }
  const cert = item.cert;
  if (cert) {
    const left = cert.notAfter.getTime() - thresholds.now.getTime();
    const critical: Severity = EXPIRY_IS_WARNING.has(item.name) ? 1 : 2;
    if (left <= 0) {
      labels.push('expired');
      raise(critical);
    } else if (left <= thresholds.critMs) {
      labels.push(`expires in ${Math.floor(left / 86_400_000)}d`);
      raise(critical);
    } else if (left <= thresholds.warnMs) {
      labels.push(`expiring in ${Math.floor(left / 86_400_000)}d`);
      raise(1);
    }
  }
  for (const problem of item.problems) {
    labels.push(PROBLEM_LABEL[problem.code]);
    raise(PROBLEM_SEVERITY[problem.code]);
  }
  const bundled = 'alsoTrusted' in item ? item.alsoTrusted?.length : undefined;
  if (bundled) labels.push(`trusts ${bundled + 1} CAs (rotation)`);
  if (labels.length === 0) labels.push('ok');
  return { severity, labels };
}

/** The exit code of `kpki check`: the worst severity over every CA and entry (and file modes: a warning). */
export function nodeSeverity(scan: NodeScan, thresholds: Thresholds): Severity {
  // a pending kubelet-serving CSR: the kubelet waits for someone to approve its serving certificate
  // (and a run killed half-way: its files may be half written until the next run rolls them back)
  let worst: Severity = scan.files?.length || scan.servingCsrs?.pending.length || scan.interrupted || scan.pendingRequests?.length ? 1 : 0;
  for (const item of [...scan.cas, ...scan.entries]) {
    const s = statusOf(item, thresholds).severity;
    if (s > worst) worst = s;
  }
  return worst;
}
