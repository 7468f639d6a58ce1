// `npm run bench:lab`: on the lab (3 control-plane nodes + 1 worker, load on every node address), median of ROUNDS:
// - restarting the control plane all at once (the seed's "restart everything") vs one node at a time with health
//   waits (the baseline for rolling restarts);
// - `kpki renew all --restart` on one node (next node each round);
// - `kpki recover` on an expired cluster: time from the first `recover` to a healthy control plane.
// Needs root.
import '../src/pki/provider.js';
import { join } from 'node:path';
import { Lab } from '../lab/lab.js';
import { DENSE, Load, LoadReport, summarize } from '../lab/load.js';
import { measureRestart } from '../lab/restarts.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const KPKI = join(import.meta.dirname, '..', 'dist', 'kpki.js');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const rows: Record<string, LoadReport[]> = {
  'all at once (restart everything)': [],
  'one node at a time, health waits': [],
  'kpki renew all --restart (one node)': [],
};
const recoverSeconds: number[] = [];
let lab = await Lab.start({ controlPlanes: 3, workers: 1 });
try {
  for (let round = 0; round < ROUNDS; round++) {
    rows['all at once (restart everything)'].push((await measureRestart(lab, 'all at once', DENSE)).report);
    rows['one node at a time, health waits'].push((await measureRestart(lab, 'one node at a time', DENSE)).report);
    const node = lab.controlPlanes[round % 3];
    const load = Load.start(lab, { durationMs: 300_000, ...DENSE });
    await new Promise((r) => setTimeout(r, 1000));
    const r = await lab.exec(node, [process.execPath, KPKI, 'renew', 'all', '--restart', '--yes']);
    if (r.code !== 0) throw new Error(`renew --restart failed on ${node.name}: ${r.stdout}${r.stderr}`);
    await lab.waitHealthy(60_000);
    await new Promise((r2) => setTimeout(r2, 1000));
    rows['kpki renew all --restart (one node)'].push(await load.finish());
    for (const [k, v] of Object.entries(rows)) console.error(`round ${round + 1} ${k}: ${v.length ? summarize(v[v.length - 1]) : ''}`);
  }
} finally {
  await lab.stop();
}
for (let round = 0; round < ROUNDS; round++) {
  lab = await Lab.start({ controlPlanes: 3, workers: 1, expired: ['all'] });
  try {
    await new Promise((r) => setTimeout(r, 3000));
    const started = Date.now();
    for (const node of lab.controlPlanes) {
      const r = await lab.exec(node, [process.execPath, KPKI, 'recover'], 600_000);
      if (r.code !== 0) throw new Error(`recover failed on ${node.name}: ${r.stdout}${r.stderr}`);
      const healthy = await lab.waitHealthy(1000, lab.controlPlanes).then(
        () => true,
        () => false,
      );
      if (healthy) break;
    }
    await lab.waitHealthy(120_000, lab.controlPlanes);
    recoverSeconds.push((Date.now() - started) / 1000);
    console.error(`round ${round + 1} recover: ${recoverSeconds[recoverSeconds.length - 1]} s`);
  } finally {
    await lab.stop();
  }
}

console.log(
  '| restart under load | balanced client: failed / requests | longest gap (balanced) | pinned clients: failed | longest gap (pinned) | acknowledged writes lost |',
);
console.log('|---|---|---|---|---|---|');
for (const [name, r] of Object.entries(rows)) {
  const failed = median(r.map((x) => x.balanced.writes.failed + x.balanced.reads.failed));
  const total = median(r.map((x) => x.balanced.writes.ok + x.balanced.writes.failed + x.balanced.reads.ok + x.balanced.reads.failed));
  const pinned = median(r.map((x) => Object.values(x.pinned).reduce((s, c) => s + c.failed, 0)));
  const pinnedGap = median(r.map((x) => Math.max(...Object.values(x.pinned).map((c) => c.longestGapMs))));
  console.log(
    `| ${name} | ${failed} / ${total} | ${(median(r.map((x) => x.balanced.longestGapMs)) / 1000).toFixed(2)} s | ${pinned} | ${(pinnedGap / 1000).toFixed(2)} s | ${Math.max(...r.map((x) => x.lostWrites.length))} |`,
  );
}
console.log(
  `\nkpki recover, every certificate of every node expired: first \`recover\` to a healthy control plane (all 3 nodes): median ${median(recoverSeconds).toFixed(1)} s (${recoverSeconds.map((s) => s.toFixed(1)).join(', ')})`,
);
