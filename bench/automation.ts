// `npm run bench:automation` (root):
// 1. Exporter scrape time over SSH on 30 and 50 lightweight lab nodes (sshd + a kubeadm control-plane tree each, plus
//    the Kubespray etcd directory an etcd node of such a cluster holds: 3 admin, 3 member and 10 node certificates, so
//    that 30 nodes carry over 1,000 certificates): the first scrape (`kpki exporter -i --once`: connect, read, exit) and
//    the steady state (a running `kpki exporter -i`, connections kept between scrapes), side by side with the ssh +
//    openssl baseline reading the same nodes one after the other; median of RUNS.
// 2. The timer scenario on the full 3 + 1 lab under load, every certificate expiring in 10 days: every control-plane
//    node's timer firing at the same second. kpki's `timer run` (etcd lock) against the seed's script (renew what
//    expires within 30 days, then restart the control-plane pods, on every node at once): failed requests and the
//    largest number of nodes restarting at once; median of ROUNDS.
import '../src/pki/provider.js';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certificateToPem } from '../src/pki/certificate.js';
import { distinguishedName, issueCertificate, leafExtensions, selfSignCa } from '../src/pki/issue.js';
import { generatePrivateKey, privateKeyToPem } from '../src/pki/keys.js';
import { Lab } from '../lab/lab.js';
import { DENSE, Load, LoadReport } from '../lab/load.js';
import { tcpOpen } from '../lab/health.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SIZES = (process.env.BENCH_SIZES ?? '30,50').split(',').map(Number);
const KPKI = join(import.meta.dirname, '..', 'dist', 'kpki.js');
const BASELINE = join(import.meta.dirname, 'baseline-openssl.sh');
const DAY = 86_400_000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timed(argv: string[], input?: string): { seconds: number; stdout: string } {
  const started = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { input, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, stdout: r.stdout };
}

/** Kubespray's /etc/ssl/etcd/ssl of an etcd node: its CA, admin and member certificates of the 3 etcd nodes, node ones of 10 hosts. */
async function kubesprayEtcdFiles(): Promise<Record<string, string>> {
  const caKey = await generatePrivateKey('ECDSA-P256');
  const notBefore = new Date(Date.now() - DAY);
  const ca = await selfSignCa({ commonName: 'etcd-ca', key: caKey, notBefore, notAfter: new Date(Date.now() + 3650 * DAY) });
  const files: Record<string, string> = { 'ca.pem': certificateToPem(ca), 'ca-key.pem': privateKeyToPem(caKey) };
  const leaves = [
    ...[1, 2, 3].flatMap((i) => [`admin-lab-cp${i}`, `member-lab-cp${i}`]),
    ...Array.from({ length: 10 }, (_, i) => `node-lab-w${i + 1}`),
  ];
  for (const name of leaves) {
    const key = await generatePrivateKey('ECDSA-P256');
    const cert = await issueCertificate({
      subject: distinguishedName(`etcd-${name}`),
      extensions: leafExtensions({
        commonName: name,
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1'],
        extKeyUsages: ['serverAuth', 'clientAuth'],
      }),
      publicKey: createPublicKey(key),
      notBefore,
      notAfter: new Date(Date.now() + 365 * DAY),
      signer: { cert: ca, key: caKey },
    });
    files[`${name}.pem`] = certificateToPem(cert);
    files[`${name}-key.pem`] = privateKeyToPem(key);
  }
  return files;
}

/** Median seconds of RUNS scrapes of a running `kpki exporter -i` (after one scrape that connects). */
async function steadyScrapes(inventory: string, port: number): Promise<number> {
  const child = spawn(process.execPath, [KPKI, '-i', inventory, 'exporter', '--listen', `127.0.0.1:${port}`, '--min-interval', '0s'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const url = `http://127.0.0.1:${port}/metrics`;
    for (let i = 0; i < 100; i++) {
      if (
        await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await (await fetch(url)).text();
    const seconds: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = process.hrtime.bigint();
      const text = await (await fetch(url)).text();
      seconds.push(Number(process.hrtime.bigint() - started) / 1e9);
      if (/^kpki_node_reachable\{[^}]*\} 0$/m.test(text)) throw new Error('a node was unreachable in a steady scrape');
    }
    return median(seconds);
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

async function scrapes(): Promise<string[]> {
  const rows = [
    '| nodes | certificates (x509_cert_not_after series) | kpki exporter -i --once (first scrape) | running kpki exporter -i (connections kept) | ssh + openssl, node after node | ratios (kpki/baseline) |',
    '|---|---|---|---|---|---|',
  ];
  const etcdFiles = await kubesprayEtcdFiles();
  const script = execFileSync('cat', [BASELINE], { encoding: 'utf8' });
  for (const size of SIZES) {
    const lab = await Lab.start({ controlPlanes: size, workers: 0, baseOctet: 100, sshOnly: true });
    try {
      for (const n of lab.nodes)
        for (let i = 0; i < 100 && !(await tcpOpen(n.address, 22, 200)).ok; i++) await new Promise((r) => setTimeout(r, 100));
      for (const n of lab.nodes) {
        mkdirSync(n.path('/etc/ssl/etcd/ssl'), { recursive: true, mode: 0o700 });
        for (const [file, text] of Object.entries(etcdFiles))
          writeFileSync(n.path(`/etc/ssl/etcd/ssl/${file}`), text, { mode: file.endsWith('-key.pem') ? 0o600 : 0o644 });
      }
      const inventory = lab.writeInventory();
      const k: number[] = [];
      const b: number[] = [];
      let series = 0;
      for (let i = 0; i < RUNS; i++) {
        const run = timed([process.execPath, KPKI, 'exporter', '-i', inventory, '--once']);
        series = run.stdout.split('\n').filter((l) => l.startsWith('x509_cert_not_after{')).length;
        k.push(run.seconds);
        const started = process.hrtime.bigint();
        for (const n of lab.nodes)
          timed(
            [
              'ssh',
              '-F',
              '/dev/null',
              '-i',
              lab.sshKey,
              '-o',
              `UserKnownHostsFile=${lab.knownHosts}`,
              '-o',
              'BatchMode=yes',
              `root@${n.address}`,
              'bash',
              '-s',
              'check',
              '/',
            ],
            script,
          );
        b.push(Number(process.hrtime.bigint() - started) / 1e9);
      }
      const steady = await steadyScrapes(inventory, 19795);
      rows.push(
        `| ${size} | ${series} | ${median(k).toFixed(2)} s | ${steady.toFixed(2)} s | ${median(b).toFixed(2)} s | ${(median(k) / median(b)).toFixed(2)} / ${(steady / median(b)).toFixed(2)} |`,
      );
      console.error(
        `scrape ${size} nodes (${series} certificates): kpki --once ${k.map((x) => x.toFixed(2)).join(' ')}; running ${steady.toFixed(2)}; baseline ${b.map((x) => x.toFixed(2)).join(' ')}`,
      );
    } finally {
      await lab.stop();
    }
  }
  return rows;
}

interface Window {
  node: string;
  from: number;
  to: number;
}

/** The largest number of windows open at the same moment. */
function mostAtOnce(windows: Window[]): number {
  let most = 0;
  for (const w of windows) most = Math.max(most, windows.filter((o) => o.from < w.to && w.from < o.to).length);
  return most;
}

const failed = (r: LoadReport) => r.balanced.writes.failed + r.balanced.reads.failed;
const pinned = (r: LoadReport) => Object.values(r.pinned).reduce((a, c) => a + c.failed, 0);

async function timers(): Promise<string[]> {
  const lab = await Lab.start({ controlPlanes: 3, workers: 1 });
  const results: Record<string, { report: LoadReport; most: number; seconds: number }[]> = {
    'kpki timer run (etcd lock)': [],
    "seed's script (renew, restart the pods)": [],
  };
  const expireSoon = async () => {
    for (const n of lab.nodes)
      await n.reissue('all', { notBefore: new Date(Date.now() - 355 * DAY), notAfter: new Date(Date.now() + 10 * DAY) });
    await Promise.all(lab.controlPlanes.map((n) => n.restartAllPods()));
    await lab.waitHealthy(90_000);
  };
  const underLoad = async (fire: () => Promise<Window[]>) => {
    const load = Load.start(lab, { durationMs: 900_000, ...DENSE });
    await new Promise((r) => setTimeout(r, 1000));
    const started = Date.now();
    const windows = await fire();
    await lab.waitHealthy(90_000);
    const seconds = (Date.now() - started) / 1000;
    return { report: await load.finish(), most: mostAtOnce(windows), seconds };
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      await expireSoon();
      results['kpki timer run (etcd lock)'].push(
        await underLoad(async () => {
          const runs = await Promise.all(
            lab.controlPlanes.map((n) =>
              lab.exec(n, [process.execPath, KPKI, 'timer', 'run', '--renew-within', '30d', '--retry', '1s', '--max-wait', '10m'], 900_000),
            ),
          );
          return runs.map((r, i) => {
            if (r.code !== 0) throw new Error(`${lab.controlPlanes[i].name}: ${r.stdout}${r.stderr}`);
            return {
              node: lab.controlPlanes[i].name,
              from: Date.parse(/^(\S+) lock acquired/m.exec(r.stdout)![1]),
              to: Date.parse(/^(\S+) lock released/m.exec(r.stdout)![1]),
            };
          });
        }),
      );
      await expireSoon();
      results["seed's script (renew, restart the pods)"].push(
        await underLoad(() =>
          Promise.all(
            lab.controlPlanes.map(async (n) => {
              const renewed = await lab.exec(n, [process.execPath, KPKI, 'renew', 'all', '--if-expires-within', '30d', '--yes']);
              if (renewed.code !== 0) throw new Error(renewed.stdout + renewed.stderr);
              const from = Date.now();
              await n.restartAllPods();
              return { node: n.name, from, to: Date.now() };
            }),
          ),
        ),
      );
    }
  } finally {
    await lab.stop();
  }
  const rows = [
    '| all control-plane timers at the same second | balanced requests failed | longest balanced gap | pinned requests failed | most nodes restarting at once | until healthy |',
    '|---|---|---|---|---|---|',
  ];
  for (const [name, list] of Object.entries(results)) {
    const pick = [...list].sort((a, b) => failed(a.report) - failed(b.report))[Math.floor(list.length / 2)];
    const total =
      pick.report.balanced.writes.ok +
      pick.report.balanced.writes.failed +
      pick.report.balanced.reads.ok +
      pick.report.balanced.reads.failed;
    rows.push(
      `| ${name} | ${failed(pick.report)} of ${total} | ${(pick.report.balanced.longestGapMs / 1000).toFixed(2)} s | ${pinned(pick.report)} | ${Math.max(...list.map((x) => x.most))} | ${pick.seconds.toFixed(1)} s |`,
    );
  }
  return rows;
}

// BENCH_PARTS=scrapes or =timers runs one half
const PARTS = (process.env.BENCH_PARTS ?? 'scrapes,timers').split(',');
if (PARTS.includes('scrapes')) console.log((await scrapes()).join('\n') + '\n');
if (PARTS.includes('timers')) console.log((await timers()).join('\n'));
