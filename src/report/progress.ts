// The rollout while it runs: on a terminal, a table redrawn in place (node, role, step, elapsed, result) with detail
// lines scrolling above it; otherwise (CI, a log file) one timestamped line per event.
import type { NodeOutcome, RolloutEvents } from '../cluster/outcome.js';
import { renderColumns } from './table.js';
import { renderGate, renderNodePlan } from './plan.js';

const time = () => new Date().toISOString().slice(11, 19);
const seconds = (ms: number) => `${(ms / 1000).toFixed(0)}s`;

export function plainProgress(write: (text: string) => void): RolloutEvents {
  return {
    step: (node, step) => write(`${time()} ${node}: ${step}\n`),
    finished: (node, outcome, detail) => write(`${time()} ${node}: ${outcome.toUpperCase()}${detail ? `: ${detail}` : ''}\n`),
    log: (line, node) =>
      write(
        `${line
          .split('\n')
          .map((l) => (node ? `${time()} ${node}:   ${l}` : l))
          .join('\n')}\n`,
      ),
    planned: (p) => write(`${renderNodePlan(p)}\n`),
    gated(g) {
      if (!g.ok) this.log(renderGate(g), g.after);
    },
  };
}

const COLOR: Partial<Record<NodeOutcome, string>> = {
  renewed: '32',
  unchanged: '32',
  running: '36',
  'rolled-back': '33',
  failed: '31',
  unreachable: '31',
};

interface Row {
  node: string;
  role: string;
  step: string;
  startedAt?: number;
  endedAt?: number;
  outcome: NodeOutcome;
}

export function liveProgress(
  nodes: { name: string; role: string }[],
  out: NodeJS.WriteStream,
  color: boolean,
): RolloutEvents & { stop(): void; pause(): void } {
  const rows: Row[] = nodes.map((n) => ({ node: n.name, role: n.role, step: '', outcome: 'pending' }));
  const row = (node: string) => rows.find((r) => r.node === node);
  let drawn = 0;
  let paused = false;
  const table = () => {
    const lines = [['NODE', 'ROLE', 'STEP', 'ELAPSED', 'RESULT']];
    for (const r of rows) {
      const elapsed = r.startedAt ? seconds((r.endedAt ?? Date.now()) - r.startedAt) : '';
      const result = color && COLOR[r.outcome] ? `\x1b[${COLOR[r.outcome]}m${r.outcome}\x1b[0m` : r.outcome;
      lines.push([r.node, r.role, r.step.slice(0, 48), elapsed, result]);
    }
    return `${renderColumns(lines)}\n`;
  };
  const clear = () => {
    if (drawn > 0) out.write(`\x1b[${drawn}A\x1b[J`);
    drawn = 0;
  };
  const draw = () => {
    const text = table();
    out.write(text);
    drawn = text.split('\n').length - 1;
  };
  const redraw = () => {
    if (paused) return;
    clear();
    draw();
  };
  const timer = setInterval(redraw, 1000);
  timer.unref();
  return {
    step(node, step) {
      paused = false;
      const r = row(node);
      if (r) Object.assign(r, { step, outcome: 'running', startedAt: r.startedAt ?? Date.now() });
      redraw();
    },
    finished(node, outcome) {
      const r = row(node);
      if (r) Object.assign(r, { outcome, endedAt: r.startedAt ? Date.now() : undefined });
      redraw();
    },
    planned(p) {
      this.log(renderNodePlan(p));
    },
    gated(g) {
      if (!g.ok) this.log(renderGate(g), g.after);
    },
    log(line, node) {
      clear();
      out.write(
        `${line
          .split('\n')
          .map((l) => (node ? `${node}: ${l}` : l))
          .join('\n')}\n`,
      );
      if (!paused) draw();
    },
    pause() {
      clear();
      paused = true;
    },
    stop() {
      clearInterval(timer);
      clear();
    },
  };
}
