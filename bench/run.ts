// npm run bench: kpki against an openssl-CLI baseline on the same lab control-plane node (RSA-2048, as kubeadm makes),
// side by side, wall time and peak memory (GNU time), median of several runs. Prints a Markdown table for the README.
// Every run is made without NODE_EXTRA_CA_CERTS (this sandbox sets it; it makes every Node.js process load ~140 CA
// certificates at start, ~50 ms, which a node does not do; openssl does not read it).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildControlPlaneNode, makeClusterCas } from '../src/trees/index.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const KPKI = join(import.meta.dirname, '..', 'dist', 'kpki.js');
const BASELINE = join(import.meta.dirname, 'baseline-openssl.sh');
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

interface Sample {
  seconds: number;
  maxRssMb: number;
}

function measure(argv: string[]): Sample {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', ...argv], { encoding: 'utf8', env });
  if (r.status !== 0 && !(argv.includes('check') && r.status! <= 2)) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
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

// renew all on this tree makes 14 RSA-2048 keys (13 certificates; the kubelet's serving certificate also gets its new
// throwaway CA): how fast this machine's cores make that many, in parallel, is the floor no renewal can go under
const KEYS = 14;
const keygen = [
  process.execPath,
  '-e',
  `const { generateKeyPair } = require('node:crypto'); Promise.all(Array.from({ length: ${KEYS} }, () => new Promise((ok, no) => generateKeyPair('rsa', { modulusLength: 2048 }, (e) => (e ? no(e) : ok()))))).then(() => process.exit(0));`,
];

/** floor: a job's lower bound here, run alternately with it (machine noise, large on this machine, hits both alike) */
type Job = { kpki: (root: string) => string[]; baseline?: (root: string) => string[]; floor?: () => string[] };
const jobs: Record<string, Job> = {
  check: {
    kpki: (root) => [process.execPath, KPKI, '--root', root, 'check', '-o', 'json'],
    baseline: (root) => ['bash', BASELINE, 'check', root],
  },
  'renew all': {
    kpki: (root) => [process.execPath, KPKI, '--root', root, 'renew', 'all', '--yes'],
    baseline: (root) => ['bash', BASELINE, 'renew', root],
    floor: () => keygen,
  },
  '--version': { kpki: () => [process.execPath, KPKI, '--version'] },
  '--help': { kpki: () => [process.execPath, KPKI, '--help'] },
};

const floors: string[] = [];
console.log(`Node.js ${process.version}, ${RUNS} runs each, medians`);
console.log(`| job | kpki time | openssl CLI time | time ratio (kpki/openssl) | kpki peak RSS | openssl script peak RSS |`);
console.log(`|---|---|---|---|---|---|`);
for (const [name, job] of Object.entries(jobs)) {
  const k: Sample[] = [];
  const b: Sample[] = [];
  const f: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    // side by side: alternate them so machine noise hits all alike
    for (const [list, argv] of [
      [k, job.kpki],
      [b, job.baseline],
      [f, job.floor],
    ] as const) {
      if (!argv) continue;
      const root = copy();
      list.push(measure(argv(root)));
      rmSync(root, { recursive: true, force: true });
    }
  }
  const kt = median(k.map((x) => x.seconds));
  const bt = b.length ? median(b.map((x) => x.seconds)) : undefined;
  const kRss = `${median(k.map((x) => x.maxRssMb)).toFixed(0)} MB`;
  const bRss = b.length ? `${median(b.map((x) => x.maxRssMb)).toFixed(0)} MB` : '-';
  if (f.length) {
    const ft = median(f.map((x) => x.seconds));
    floors.push(
      `${name}: ${kt.toFixed(2)} s, ${(kt - ft).toFixed(2)} s above the key-generation limit of this machine (${KEYS} RSA-2048 keys at once on ${availableParallelism()} cores: ${ft.toFixed(2)} s, ${median(f.map((x) => x.maxRssMb)).toFixed(0)} MB, run alternately with it)`,
    );
  }
  console.log(
    `| ${name} | ${kt.toFixed(2)} s | ${bt === undefined ? '-' : `${bt.toFixed(2)} s`} | ${bt === undefined ? '-' : (kt / bt).toFixed(2)} | ${kRss} | ${bRss} |`,
  );
}
for (const line of floors) console.log(`\n${line}`);
rmSync(template, { recursive: true, force: true });
