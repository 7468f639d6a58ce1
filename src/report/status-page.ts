// The exporter's status page: every node and certificate with its expiry, coloured by urgency, problems first, and a
// timeline (what expires when, across the cluster) as inline SVG. One self-contained HTML document, no scripts.
import type { NodeMetricsInput } from './prometheus.js';
import { Severity, statusOf, Thresholds } from './status.js';
import { kubeadmDate } from './kubeadm-format.js';

const DAY = 86_400_000;
// urgency colours: expired/critical red, warning amber, ok green, unknown grey
export const COLOURS: Record<Severity, string> = { 0: '#2e7d32', 1: '#f9a825', 2: '#c62828', 3: '#757575' };
const WORDS: Record<Severity, string> = { 0: 'ok', 1: 'warning', 2: 'critical', 3: 'unknown' };

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

interface Row {
  node: string;
  name: string;
  path: string;
  notAfter?: Date;
  severity: Severity;
  status: string;
  ca: boolean;
}

function rowsOf(nodes: NodeMetricsInput[], t: Thresholds): Row[] {
  const rows: Row[] = [];
  for (const n of nodes) {
    if (!n.scan) {
      rows.push({ node: n.node, name: '(node)', path: '', severity: 3, status: `unreachable: ${n.error ?? 'not read'}`, ca: false });
      continue;
    }
    for (const ca of n.scan.cas.filter((c) => !c.embeddedOnly)) {
      const s = statusOf(ca, t);
      rows.push({
        node: n.node,
        name: `${ca.name} (CA)`,
        path: ca.certPath,
        notAfter: ca.cert?.notAfter,
        severity: s.severity,
        status: s.labels.join(', '),
        ca: true,
      });
    }
    for (const e of n.scan.entries) {
      const s = statusOf(e, t);
      rows.push({
        node: n.node,
        name: e.name,
        path: e.path,
        notAfter: e.cert?.notAfter,
        severity: s.severity,
        status: s.labels.join(', '),
        ca: false,
      });
    }
    if (n.timer?.lastResult === 'failure')
      rows.push({
        node: n.node,
        name: '(renewal timer)',
        path: '',
        severity: 2,
        status: `last run failed ${n.timer.lastRunAt ?? ''}: ${n.timer.lastDetail ?? ''}`,
        ca: false,
      });
  }
  // problems first (worst first), then by expiry
  return rows.sort(
    (a, b) => b.severity - a.severity || (a.notAfter?.getTime() ?? 0) - (b.notAfter?.getTime() ?? 0) || a.node.localeCompare(b.node),
  );
}

/** Leaves and CAs on a time axis from a month ago to the latest leaf expiry (CAs beyond it sit at the right edge). */
function timeline(rows: Row[], nodes: string[], now: Date): string {
  const width = 1000;
  const left = 140;
  const rowH = 26;
  const height = 40 + nodes.length * rowH;
  const leaves = rows.filter((r) => r.notAfter && !r.ca).map((r) => r.notAfter!.getTime());
  const start = Math.min(now.getTime() - 30 * DAY, ...leaves);
  const end = Math.max(now.getTime() + 60 * DAY, ...leaves) + 15 * DAY;
  const x = (ms: number) => left + ((Math.min(Math.max(ms, start), end) - start) / (end - start)) * (width - left - 10);
  const parts: string[] = [];
  for (
    let m = new Date(Date.UTC(new Date(start).getUTCFullYear(), new Date(start).getUTCMonth() + 1, 1));
    m.getTime() < end;
    m = new Date(Date.UTC(m.getUTCFullYear(), m.getUTCMonth() + 1, 1))
  ) {
    parts.push(
      `<line x1="${x(m.getTime())}" y1="20" x2="${x(m.getTime())}" y2="${height}" stroke="#e0e0e0"/><text x="${x(m.getTime()) + 2}" y="14" font-size="10" fill="#616161">${m.toISOString().slice(0, 7)}</text>`,
    );
  }
  parts.push(
    `<line x1="${x(now.getTime())}" y1="18" x2="${x(now.getTime())}" y2="${height}" stroke="#1565c0" stroke-width="2"/><text x="${x(now.getTime()) + 3}" y="${height - 4}" font-size="10" fill="#1565c0">now</text>`,
  );
  nodes.forEach((node, i) => {
    const y = 30 + i * rowH + rowH / 2;
    parts.push(
      `<text x="4" y="${y + 4}" font-size="12">${escape(node)}</text><line x1="${left}" y1="${y}" x2="${width - 10}" y2="${y}" stroke="#bdbdbd"/>`,
    );
    // the most urgent marks are drawn last, so a warning never hides a critical one at the same date
    for (const r of rows.filter((row) => row.node === node && row.notAfter).sort((a, b) => a.severity - b.severity)) {
      const title = `${r.node} ${r.name}: ${kubeadmDate(r.notAfter!)} (${r.status})`;
      parts.push(
        `<circle class="mark sev${r.severity}" cx="${x(r.notAfter!.getTime()).toFixed(1)}" cy="${y}" r="${r.ca ? 4 : 7}" fill="${COLOURS[r.severity]}" fill-opacity="0.85"><title>${escape(title)}</title></circle>`,
      );
    }
  });
  return `<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="expiry timeline">${parts.join('')}</svg>`;
}

export function renderStatusPage(
  nodes: NodeMetricsInput[],
  now: Date,
  thresholds: Omit<Thresholds, 'now'> = { warnMs: 28 * DAY, critMs: 14 * DAY },
): string {
  const t = { ...thresholds, now };
  const rows = rowsOf(nodes, t);
  const worst = rows.reduce<Severity>((w, r) => (r.severity > w ? r.severity : w), 0);
  const counts = ([2, 1, 3, 0] as Severity[])
    .map((s) => `<span class="pill" style="background:${COLOURS[s]}">${rows.filter((r) => r.severity === s).length} ${WORDS[s]}</span>`)
    .join(' ');
  const table = rows
    .map(
      (r) =>
        `<tr class="sev${r.severity}"><td><span class="dot" style="background:${COLOURS[r.severity]}"></span>${WORDS[r.severity]}</td><td>${escape(r.node)}</td><td>${escape(r.name)}</td><td>${r.notAfter ? kubeadmDate(r.notAfter) : ''}</td><td>${r.notAfter ? `${Math.floor((r.notAfter.getTime() - now.getTime()) / DAY)}d` : ''}</td><td>${escape(r.status)}</td><td class="path">${escape(r.path)}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kpki: certificates ${WORDS[worst]}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#212121}
h1{font-size:20px;margin:0 0 8px}
.banner{padding:12px 16px;color:#fff;border-radius:6px;margin-bottom:16px;background:${COLOURS[worst]}}
.pill{color:#fff;padding:2px 8px;border-radius:10px;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:13px;margin-top:16px}
td,th{border-bottom:1px solid #eee;padding:4px 8px;text-align:left}
tr.sev2 td{background:#ffebee} tr.sev1 td{background:#fff8e1} tr.sev3 td{background:#f5f5f5}
.dot{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:6px}
.path{color:#757575;font-family:monospace}
</style></head><body>
<div class="banner" id="summary"><h1>kpki: ${WORDS[worst]}</h1>${nodes.length} node(s), ${rows.length} certificate(s) · as of ${now.toISOString()}</div>
<div>${counts}</div>
<h2>Expiry timeline</h2>
${timeline(
  rows,
  nodes.map((n) => n.node),
  now,
)}
<table id="certificates"><thead><tr><th>status</th><th>node</th><th>certificate</th><th>expires</th><th>left</th><th>detail</th><th>path</th></tr></thead>
<tbody>
${table}
</tbody></table>
</body></html>
`;
}
