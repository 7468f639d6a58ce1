// `npm run bench:lab`: failed requests while restarting the lab's control plane all at once vs one node at a time
// (3 control-plane nodes, load on every node address; median of ROUNDS runs). Needs root.
import '../src/pki/provider.js';
import { Lab } from '../lab/lab.js';
import { summarize } from '../lab/load.js';
import { measureRestart, RestartMeasurement } from '../lab/restarts.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const lab = await Lab.start({ controlPlanes: 3, workers: 1 });
const results: Record<string, RestartMeasurement[]> = { 'all at once': [], 'one node at a time': [] };
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const strategy of ['all at once', 'one node at a time'] as const) {
      const m = await measureRestart(lab, strategy);
      results[strategy].push(m);
      console.error(`round ${round + 1} ${strategy}: ${summarize(m.report)}`);
    }
  }
} finally {
  await lab.stop();
}
console.log('| restart | balanced client: failed / requests | longest gap (balanced) | pinned clients: failed | longest gap (pinned) | acknowledged writes lost |');
console.log('|---|---|---|---|---|---|');
for (const [strategy, ms] of Object.entries(results)) {
  const r = ms.map((m) => m.report);
  const failed = median(r.map((x) => x.balanced.writes.failed + x.balanced.reads.failed));
  const total = median(r.map((x) => x.balanced.writes.ok + x.balanced.writes.failed + x.balanced.reads.ok + x.balanced.reads.failed));
  const pinned = median(r.map((x) => Object.values(x.pinned).reduce((s, c) => s + c.failed, 0)));
  const pinnedGap = median(r.map((x) => Math.max(...Object.values(x.pinned).map((c) => c.longestGapMs))));
  console.log(`| ${strategy} | ${failed} / ${total} | ${(median(r.map((x) => x.balanced.longestGapMs)) / 1000).toFixed(2)} s | ${pinned} | ${(pinnedGap / 1000).toFixed(2)} s | ${Math.max(...r.map((x) => x.lostWrites.length))} |`);
}
