// `npm run bench:cluster` (root): whole clusters from this machine.
// 1. Cluster check of 3, 10 and 30 nodes (lightweight lab nodes: sshd and a kubeadm tree each, own mount namespace,
//    127.0.0.101 and up): `kpki check -i` (parallel, --concurrency 10) side by side with what operators script today,
//    the openssl baseline run over `ssh` on one node after the other; median of RUNS. The standalone executable
//    (dist/kpki-linux-x64, pure-JS ssh2 without its native binding) runs the same check: it is the guard against SSH
//    latency regressions such as Nagle's delayed ACKs, which only that path shows (npm kpki has the native binding).
// 2. Rolling renewal on the full 3 + 1 lab under load, every certificate expiring in 10 days: `kpki renew -i` against
//    the seed's method (renew the files on every node, restart every control plane at once): time, time per node,
//    failed requests, longest gap; median of ROLLOUT_ROUNDS.
// 3. Health probes of every node with sshd forwarding and without (BENCH_PARTS=probes, not run by default).
// 4. CA rotation (BENCH_PARTS=rotation, not run by default; BENCH_CA=ca|sa|front-proxy-ca for another than etcd-ca) on the
//    3 + 1 lab under load, kpki's phases against the manual procedure done all at once.
import '../src/pki/provider.js';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { Lab } from '../lab/lab.js';
import { DENSE, Load, LoadReport } from '../lab/load.js';
import { tcpOpen } from '../lab/health.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ROLLOUT_ROUNDS = Number(process.env.ROLLOUT_ROUNDS ?? 1);
const SIZES = (process.env.BENCH_SIZES ?? '3,10,30').split(',').map(Number);
const KPKI = join(import.meta.dirname, '..', 'dist', 'kpki.js');
const SEA = join(import.meta.dirname, '..', 'dist', `kpki-${process.platform}-${process.arch}`);
const PARTS = (process.env.BENCH_PARTS ?? 'check,rollouts').split(',');
const BASELINE = join(import.meta.dirname, 'baseline-openssl.sh');
const DAY = 86_400_000;
const execFileAsync = promisify(execFile);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timed(fn: () => void): number {
  const started = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function run(argv: string[], input?: string): void {
  const r = spawnSync(argv[0], argv.slice(1), { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr.slice(-2000)}`);
}

async function checkScaling(): Promise<string[]> {
  const rows = [
    '| nodes | kpki check -i (parallel) | standalone executable | ssh + openssl, node after node | ratio (kpki/baseline) | ratio (standalone/baseline) | per node (kpki) |',
    '|---|---|---|---|---|---|---|',
  ];
  execFileSync(process.execPath, [join(import.meta.dirname, '..', 'scripts', 'build-sea.mjs')], { stdio: 'ignore' });
  const script = execFileSync('cat', [BASELINE], { encoding: 'utf8' });
  for (const size of SIZES) {
    const lab = await Lab.start({ controlPlanes: Math.min(3, size), workers: Math.max(0, size - 3), baseOctet: 100, sshOnly: true });
    try {
      for (const n of lab.nodes)
        for (let i = 0; i < 100 && !(await tcpOpen(n.address, 22, 200)).ok; i++) await new Promise((r) => setTimeout(r, 100));
      const inventory = lab.writeInventory();
      const ssh = (address: string) => [
        'ssh',
        '-F',
        '/dev/null',
        '-i',
        lab.sshKey,
        '-o',
        `UserKnownHostsFile=${lab.knownHosts}`,
        '-o',
        'BatchMode=yes',
        `root@${address}`,
        'bash',
        '-s',
        'check',
        '/',
      ];
      const k: number[] = [];
      const sea: number[] = [];
      const b: number[] = [];
      const checkArgs = ['check', '-i', inventory, '-o', 'json', '--warn', '1d', '--crit', '1d'];
      for (let i = 0; i < RUNS; i++) {
        k.push(timed(() => run([process.execPath, KPKI, ...checkArgs])));
        sea.push(timed(() => run([SEA, ...checkArgs])));
        b.push(timed(() => lab.nodes.forEach((n) => run(ssh(n.address), script))));
      }
      const [kt, st, bt] = [median(k), median(sea), median(b)];
      rows.push(
        `| ${size} | ${kt.toFixed(2)} s | ${st.toFixed(2)} s | ${bt.toFixed(2)} s | ${(kt / bt).toFixed(2)} | ${(st / bt).toFixed(2)} | ${((kt / size) * 1000).toFixed(0)} ms |`,
      );
      const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
      console.error(`check ${size} nodes: kpki ${list(k)}; standalone ${list(sea)}; baseline ${list(b)}`);
    } finally {
      await lab.stop();
    }
  }
  return rows;
}

const failed = (r: LoadReport) => r.balanced.writes.failed + r.balanced.reads.failed;
const pinnedFailed = (r: LoadReport) => Object.values(r.pinned).reduce((a, c) => a + c.failed, 0);
const pinnedGap = (r: LoadReport) => Math.max(0, ...Object.values(r.pinned).map((c) => c.longestGapMs));

async function rollouts(): Promise<string[]> {
  const lab = await Lab.start({ controlPlanes: 3, workers: 1 });
  const results: Record<string, { seconds: number; report: LoadReport }[]> = {
    'kpki renew -i (one node at a time, gates)': [],
    "seed's method (renew every node, restart all at once)": [],
  };
  const expireSoon = async () => {
    for (const n of lab.nodes)
      await n.reissue('all', { notBefore: new Date(Date.now() - 355 * DAY), notAfter: new Date(Date.now() + 10 * DAY) });
    await Promise.all(lab.controlPlanes.map((n) => n.restartAllPods()));
    await lab.waitHealthy(90_000);
  };
  const underLoad = async (fn: () => Promise<void>) => {
    const load = Load.start(lab, { durationMs: 600_000, ...DENSE });
    await new Promise((r) => setTimeout(r, 1000));
    const started = Date.now();
    await fn();
    await lab.waitHealthy(90_000);
    const seconds = (Date.now() - started) / 1000;
    return { seconds, report: await load.finish() };
  };
  try {
    const inventory = lab.writeInventory();
    for (let round = 0; round < ROLLOUT_ROUNDS; round++) {
      await expireSoon();
      // asynchronously: the load generator runs in this process and must keep running meanwhile
      results['kpki renew -i (one node at a time, gates)'].push(
        await underLoad(
          async () =>
            void (await execFileAsync(process.execPath, [KPKI, 'renew', '-i', inventory, 'all', '--if-expires-within', '30d', '--yes'], {
              maxBuffer: 64 << 20,
            })),
        ),
      );
      await expireSoon();
      results["seed's method (renew every node, restart all at once)"].push(
        await underLoad(async () => {
          for (const n of lab.nodes) {
            const r = await lab.exec(n, [process.execPath, KPKI, 'renew', 'all', '--yes']);
            if (r.code !== 0) throw new Error(r.stdout + r.stderr);
          }
          await Promise.all(lab.controlPlanes.map((n) => n.restartAllPods()));
        }),
      );
    }
  } finally {
    await lab.stop();
  }
  const rows = [
    '| method | time | per node | balanced requests failed | longest balanced gap | pinned requests failed | longest pinned gap |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const [name, list] of Object.entries(results)) {
    const pick = list.sort((a, b) => failed(a.report) - failed(b.report))[Math.floor(list.length / 2)];
    const total =
      pick.report.balanced.writes.ok +
      pick.report.balanced.writes.failed +
      pick.report.balanced.reads.ok +
      pick.report.balanced.reads.failed;
    rows.push(
      `| ${name} | ${pick.seconds.toFixed(1)} s | ${(pick.seconds / 4).toFixed(1)} s | ${failed(pick.report)} of ${total} | ${(pick.report.balanced.longestGapMs / 1000).toFixed(2)} s | ${pinnedFailed(pick.report)} | ${(pinnedGap(pick.report) / 1000).toFixed(2)} s |`,
    );
  }
  return rows;
}

interface RotationRun {
  phases: Record<string, number>;
  seconds: number;
  restartsPerNode: string;
  report: LoadReport;
}

/**
 * CA rotation (etcd-ca) on the 3 + 1 lab under load: `kpki ca rotate -i`, phase by phase (time per phase, restarts per
 * control-plane node from its reports), against the documented manual procedure done all at once: each phase's files
 * changed on every node (kpki ca rotate on the node itself, files only), then every control plane restarted at the
 * same moment.
 */
async function rotation(ca: string): Promise<string[]> {
  const lab = await Lab.start({ controlPlanes: 3, workers: 1 });
  // sa: an in-cluster client renews its service-account token every 2 s; finish runs without waiting the hour
  const keyFlags = (dir: string) =>
    ca === 'sa' ? ['--new-ca-key', join(dir, 'sa.key')] : ['--new-ca-cert', join(dir, `${ca}.crt`), '--new-ca-key', join(dir, `${ca}.key`)];
  const overlap = ca === 'sa' ? ['--token-overlap', '0s'] : [];
  const runs: Record<string, RotationRun[]> = { 'kpki ca rotate -i': [], 'manual procedure, all at once': [] };
  const phases = ['trust', 'issue', 'verify', 'finish'];
  try {
    const inventory = lab.writeInventory();
    for (let round = 0; round < ROLLOUT_ROUNDS; round++) {
      for (const method of Object.keys(runs)) {
        const load = Load.start(lab, { durationMs: 900_000, ...DENSE, serviceAccount: ca === 'sa' ? { refreshMs: 2000 } : undefined });
        await new Promise((r) => setTimeout(r, 1000));
        const times: Record<string, number> = {};
        const restarts = new Map<string, number>();
        const started = Date.now();
        for (const phase of phases) {
          const t0 = Date.now();
          if (method === 'kpki ca rotate -i') {
            const report = join(lab.dir, `rotate-${phase}.json`);
            await execFileAsync(
              process.execPath,
              [KPKI, 'ca', 'rotate', '-i', inventory, '--ca', ca, '--phase', phase, '--yes', '--report', report, ...overlap],
              {
                maxBuffer: 64 << 20,
              },
            );
            const json = JSON.parse(execFileSync('cat', [report], { encoding: 'utf8' }));
            for (const n of json.nodes) restarts.set(n.node, (restarts.get(n.node) ?? 0) + n.restarted.length);
          } else if (phase !== 'verify') {
            // one new CA for every node, as the manual procedure distributes it: made on the first, given to the rest
            const saved = join(lab.dir, `manual-${ca}-${round}`);
            const caFlags = phase !== 'trust' ? overlap : keyFlags(saved);
            // (the cluster CA: the workers too, given the saved CA, as the manual procedure copies it to every node)
            const nodes = ca === 'ca' ? lab.nodes : lab.controlPlanes;
            for (const [i, n] of nodes.entries()) {
              const flags = phase === 'trust' && i === 0 ? ['--save-ca', saved] : n.role === 'control-plane' ? caFlags : keyFlags(saved);
              const r = await lab.exec(n, [process.execPath, KPKI, 'ca', 'rotate', '--ca', ca, '--phase', phase, '--yes', ...flags]);
              if (r.code !== 0) throw new Error(r.stdout + r.stderr);
            }
            await Promise.all([
              ...lab.controlPlanes.map((n) => n.restartAllPods()),
              // every kubelet reads the CA only at start
              ...(ca === 'ca' ? nodes.map((n) => lab.exec(n, ['systemctl', 'restart', 'kubelet'])) : []),
            ]);
            for (const n of lab.controlPlanes) restarts.set(n.name, (restarts.get(n.name) ?? 0) + 4 + (ca === 'ca' ? 1 : 0));
          }
          await lab.waitHealthy(90_000);
          times[phase] = (Date.now() - t0) / 1000;
        }
        const seconds = (Date.now() - started) / 1000;
        const perNode = lab.controlPlanes.map((n) => restarts.get(n.name) ?? 0);
        runs[method].push({ phases: times, seconds, restartsPerNode: perNode.join('/'), report: await load.finish() });
        console.error(`rotation ${method}: ${seconds.toFixed(1)} s, phases ${JSON.stringify(times)}, restarts ${perNode.join('/')}`);
      }
    }
  } finally {
    await lab.stop();
  }
  const rows = [
    `| method (${ca}, 3 control-plane nodes) | trust | issue | verify | finish | total | per control-plane node | restarts per node | balanced requests failed | longest balanced gap | pinned requests failed | acknowledged writes lost |${ca === 'sa' ? ' in-cluster requests failed (401) |' : ''}`,
    `|---|---|---|---|---|---|---|---|---|---|---|---|${ca === 'sa' ? '---|' : ''}`,
  ];
  for (const [name, list] of Object.entries(runs)) {
    const pick = list.sort((a, b) => a.seconds - b.seconds)[Math.floor(list.length / 2)];
    const r = pick.report;
    const total = r.balanced.writes.ok + r.balanced.writes.failed + r.balanced.reads.ok + r.balanced.reads.failed;
    const t = (p: string) => `${pick.phases[p].toFixed(1)} s`;
    rows.push(
      `| ${name} | ${t('trust')} | ${t('issue')} | ${t('verify')} | ${t('finish')} | ${pick.seconds.toFixed(1)} s | ${(pick.seconds / 3).toFixed(1)} s | ${pick.restartsPerNode} | ${failed(r)} of ${total} | ${(r.balanced.longestGapMs / 1000).toFixed(2)} s | ${pinnedFailed(r)} | ${r.lostWrites.length} |${r.inCluster ? ` ${r.inCluster.failed} of ${r.inCluster.ok + r.inCluster.failed} (${r.inCluster.unauthorized}) |` : ''}`,
    );
  }
  return rows;
}

/**
 * `kpki health -i` on the 3 + 1 lab: every node's sshd allowing TCP forwarding (plainSsh) against every node refusing
 * it (the lab's hardening: MaxSessions 10 or 4, lab-cp3 without python3), probes through relays; and the hardened
 * lab with a bash relay per probe on every node. Median of RUNS + 2, each run a fresh kpki process.
 */
async function probes(): Promise<string[]> {
  const ways: [string, { plainSsh?: boolean }, Record<string, string>][] = [
    ['forwarding allowed (direct-tcpip channels)', { plainSsh: true }, {}],
    ['every node refuses forwarding (one python3 relay per node; lab-cp3: bash)', {}, {}],
    ['every node refuses forwarding, a bash relay per probe everywhere', {}, { KPKI_TEST_RELAYS: 'bash' }],
  ];
  const rows = ['| sshd on every node | kpki health -i (3 + 1) | ratio to forwarding | checks |', '|---|---|---|---|'];
  let forwarded = 0;
  for (const [label, options, env] of ways) {
    const lab = await Lab.start({ controlPlanes: 3, workers: 1, baseOctet: 100, ...options });
    try {
      const inventory = lab.writeInventory();
      const times: number[] = [];
      let checks = 0;
      for (let i = 0; i < RUNS + 2; i++) {
        const started = process.hrtime.bigint();
        const r = spawnSync(process.execPath, [KPKI, 'health', '-i', inventory, '-o', 'json'], {
          encoding: 'utf8',
          env: { ...process.env, ...env },
        });
        times.push(Number(process.hrtime.bigint() - started) / 1e9);
        if (r.status !== 0) throw new Error(`health -i (${label}) exited ${r.status}: ${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
        checks = JSON.parse(r.stdout).nodes.reduce((n: number, node: { checks: unknown[] }) => n + node.checks.length, 0);
      }
      const t = median(times);
      if (!forwarded) forwarded = t;
      rows.push(`| ${label} | ${t.toFixed(2)} s | ${(t / forwarded).toFixed(2)} | ${checks} |`);
      console.error(`probes ${label}: ${times.map((x) => x.toFixed(2)).join(' ')}`);
    } finally {
      await lab.stop();
    }
  }
  return rows;
}

if (PARTS.includes('probes')) console.log((await probes()).join('\n') + '\n');
if (PARTS.includes('check')) console.log((await checkScaling()).join('\n') + '\n');
if (PARTS.includes('rollouts')) console.log((await rollouts()).join('\n'));
if (PARTS.includes('rotation')) console.log((await rotation(process.env.BENCH_CA ?? 'etcd-ca')).join('\n'));
