// The end of a rollout: per node what happened, which certificates changed (old and new expiry), what was reloaded
// or restarted, how long it took; then why it stopped and what to do.
import type { RolloutReport } from '../cluster/outcome.js';
import { kubeadmDate } from './kubeadm-format.js';
import { renderColumns } from './table.js';

const date = (iso?: string) => (iso ? kubeadmDate(new Date(iso)) : '');

export function renderRolloutReport(report: RolloutReport): string {
  const rows = [['NODE', 'ROLE', 'RESULT', 'TIME', 'CERTIFICATES', 'IN SERVICE BY', 'BACKUP']];
  for (const n of report.nodes) {
    const inService = [...n.reloaded.map((c) => `${c} (reload)`), ...n.restarted.map((c) => `${c} (restart)`)].join(', ');
    rows.push([
      n.node,
      n.role,
      `${n.outcome}${n.resumed ? ' (before resume)' : ''}`,
      n.durationMs === undefined ? '' : `${(n.durationMs / 1000).toFixed(1)}s`,
      n.certificates.length ? String(n.certificates.length) : '',
      inService,
      n.backup ?? '',
    ]);
  }
  const changes = report.nodes.flatMap((n) => n.certificates.map((c) => [n.node, c.name, date(c.oldNotAfter), date(c.newNotAfter)]));
  const parts = [`Rollout ${report.rollout ?? ''}: ${report.result}${report.resumed ? ' (resumed)' : ''}`, renderColumns(rows)];
  if (changes.length) parts.push(renderColumns([['NODE', 'CERTIFICATE', 'OLD EXPIRY', 'NEW EXPIRY'], ...changes]));
  for (const n of report.nodes.filter((x) => x.detail && ['rolled-back', 'failed', 'unreachable'].includes(x.outcome)))
    parts.push(`${n.node}: ${n.detail}`);
  return `${parts.join('\n\n')}\n`;
}
