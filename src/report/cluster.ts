// One table for a whole cluster: the node tables with a NODE column, a summary line per node, cross-node problems.
import type { ClusterCheck } from '../cluster/check.js';
import { nodeSeverity, Severity, Thresholds } from './status.js';
import {
  CA_HEADER,
  CERT_HEADER,
  caRows,
  certificateRows,
  renderColumns,
  renderFileFindings,
  renderKeyRotation,
  renderServingCsrs,
} from './table.js';

const WORDS: Record<Severity, string> = { 0: 'ok', 1: 'WARNING', 2: 'CRITICAL', 3: 'UNKNOWN' };

export function clusterSeverity(check: ClusterCheck, thresholds: Thresholds): Severity {
  let worst: Severity = check.crossNode.length > 0 ? 2 : 0;
  for (const r of check.results) {
    const s: Severity = r.scan ? (r.scan.role === 'unknown' ? 3 : nodeSeverity(r.scan, thresholds)) : 3;
    if (s > worst) worst = s;
  }
  return worst;
}

export function renderCluster(check: ClusterCheck, thresholds: Thresholds): string {
  const certs: string[][] = [['NODE', ...CERT_HEADER]];
  const cas: string[][] = [['NODE', ...CA_HEADER]];
  const summary: string[] = [];
  const details: string[] = [];
  for (const r of check.results) {
    if (!r.scan) {
      summary.push(`${r.node.name} (${r.node.address}): UNKNOWN: ${r.error}`);
      continue;
    }
    certs.push(...certificateRows(r.scan, thresholds).rows.map((row) => [r.node.name, ...row]));
    cas.push(...caRows(r.scan, thresholds).rows.map((row) => [r.node.name, ...row]));
    const severity = r.scan.role === 'unknown' ? 3 : nodeSeverity(r.scan, thresholds);
    const soonest = r.scan.entries.filter((e) => e.cert).sort((a, b) => a.cert!.notAfter.getTime() - b.cert!.notAfter.getTime())[0];
    summary.push(
      `${r.node.name} (${r.node.address}, ${r.node.role}): ${WORDS[severity]}: ${r.scan.entries.length} certificates${soonest ? `, first to expire ${soonest.name} on ${soonest.cert!.notAfter.toISOString().slice(0, 10)}` : ''}`,
    );
    // per node: kubelet serving CSRs waiting for approval, file modes and owners
    const notes = `${renderServingCsrs(r.scan)}${renderFileFindings(r.scan)}${renderKeyRotation(r.scan)}`.trim();
    if (notes) details.push(`== ${r.node.name}\n${notes}`);
  }
  const cross = check.crossNode.length ? `\nAcross nodes:\n${check.crossNode.map((p) => `  ${p}`).join('\n')}\n` : '';
  const more = details.length ? `\n${details.join('\n\n')}\n` : '';
  return `${renderColumns(certs)}\n\n${renderColumns(cas)}\n${more}\n${summary.join('\n')}\n${cross}`;
}
