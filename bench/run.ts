// npm run bench: kpki against an openssl-CLI baseline on the same lab control-plane node (RSA-2048, as kubeadm makes),
// side by side, wall time and peak memory (GNU time), median of several runs. Prints a Markdown table for the README.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildControlPlaneNode, makeClusterCas } from '../src/lab/index.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const KPKI = join(import.meta.dirname, '..', 'dist', 'kpki.js');
const BASELINE = join(import.meta.dirname, 'baseline-openssl.sh');

function measure(argv: string[]): { seconds: number; maxRssMb: number } {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', ...argv], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  const [seconds, kb] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return { seconds, maxRssMb: kb / 1024 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const template = mkdtempSync(join(tmpdir(), 'kpki-bench-'));
const cas = await makeClusterCas({ keyAlgorithm: 'RSA-2048' });
await buildControlPlaneNode(template, cas, { nodeName: 'bench-cp1', address: '127.0.0.51' });

const copy = () => {
  const root = mkdtempSync(join(tmpdir(), 'kpki-bench-run-'));
  cpSync(template, root, { recursive: true, verbatimSymlinks: true });
  return root;
};

const jobs = {
  check: { kpki: (root: string) => [process.execPath, KPKI, '--root', root, 'check', '-o', 'json'], baseline: (root: string) => ['bash', BASELINE, 'check', root] },
  'renew all': { kpki: (root: string) => [process.execPath, KPKI, '--root', root, 'renew', 'all', '--yes'], baseline: (root: string) => ['bash', BASELINE, 'renew', root] },
};

console.log(`| job | kpki time | openssl CLI time | time ratio (kpki/openssl) | kpki peak RSS | openssl script peak RSS |`);
console.log(`|---|---|---|---|---|---|`);
for (const [name, job] of Object.entries(jobs)) {
  const k: { seconds: number; maxRssMb: number }[] = [];
  const b: { seconds: number; maxRssMb: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    // side by side: alternate the two so machine noise hits both alike
    for (const [list, argv] of [[k, job.kpki], [b, job.baseline]] as const) {
      const root = copy();
      list.push(measure(argv(root)));
      rmSync(root, { recursive: true, force: true });
    }
  }
  const kt = median(k.map((x) => x.seconds));
  const bt = median(b.map((x) => x.seconds));
  console.log(`| ${name} | ${kt.toFixed(2)} s | ${bt.toFixed(2)} s | ${(kt / bt).toFixed(2)} | ${median(k.map((x) => x.maxRssMb)).toFixed(0)} MB | ${median(b.map((x) => x.maxRssMb)).toFixed(0)} MB |`);
}
rmSync(template, { recursive: true, force: true });
