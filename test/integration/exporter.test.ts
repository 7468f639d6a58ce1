// kpki exporter on a lab tree: metrics with x509-certificate-exporter's names and labels, judged by promtool
// (Debian `prometheus`) and by openssl's dates; the HTTP server; the status page rendered in headless Chromium and
// checked on its screenshot (colours where the expired certificates are), not only its HTTP status.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { expiredControlPlane } from '../helpers/lab.js';
import { KPKI, kpki, removeTree } from '../helpers/kpki.js';
import { openssl } from '../helpers/openssl.js';
import { have } from '../helpers/lab-tools.js';
import { startTracked, stopAll, waitFor } from '../helpers/processes.js';

let root = '';
const scratch = mkdtempSync(join(tmpdir(), 'kpki-exporter-'));
before(async () => {
  root = await expiredControlPlane();
});
after(async () => {
  await stopAll();
  removeTree(root);
  rmSync(scratch, { recursive: true, force: true });
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Sample[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(l)!;
      const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
      return { name: m[1], labels, value: Number(m[3]) };
    });
}

const enddate = (pem: string) =>
  Math.floor(Date.parse(openssl(['x509', '-noout', '-enddate'], pem).stdout.trim().replace('notAfter=', '')) / 1000);

test('exporter --once: enix x509-certificate-exporter names and labels, values as openssl reads them, promtool-clean', {
  skip: !have('promtool') && 'promtool is not installed (.ci/run installs prometheus)',
}, () => {
  const r = kpki(['--root', root, 'exporter', '--once']);
  assert.equal(r.status, 0, r.stderr);
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: r.stdout, encoding: 'utf8' });
  assert.equal(lint.status, 0, lint.stdout + lint.stderr);
  assert.equal((lint.stdout + lint.stderr).trim(), '', 'promtool has nothing to say');
  const samples = parse(r.stdout);
  const api = samples.find((s) => s.name === 'x509_cert_not_after' && s.labels.filepath === '/etc/kubernetes/pki/apiserver.crt')!;
  assert.equal(api.value, enddate(readFileSync(join(root, 'etc/kubernetes/pki/apiserver.crt'), 'utf8')));
  assert.equal(api.labels.filename, 'apiserver.crt');
  assert.equal(api.labels.subject_CN, 'kube-apiserver');
  assert.equal(api.labels.issuer_CN, 'kubernetes');
  const serial = openssl(['x509', '-noout', '-serial'], readFileSync(join(root, 'etc/kubernetes/pki/apiserver.crt')))
    .stdout.trim()
    .replace('serial=', '');
  assert.equal(api.labels.serial_number, BigInt(`0x${serial}`).toString(10), 'the serial in decimal, as enix prints it');
  assert.equal(samples.find((s) => s.name === 'x509_cert_expired' && s.labels.filepath === '/etc/kubernetes/pki/apiserver.crt')!.value, 1);
  assert.ok(
    samples.find((s) => s.name === 'x509_cert_expires_in_seconds' && s.labels.filepath === '/etc/kubernetes/pki/apiserver.crt')!.value < 0,
  );
  assert.equal(samples.find((s) => s.name === 'x509_cert_expired' && s.labels.filepath === '/etc/kubernetes/pki/ca.crt')!.value, 0);
  const admin = samples.filter((s) => s.name === 'x509_cert_not_after' && s.labels.filepath === '/etc/kubernetes/admin.conf');
  assert.deepEqual(admin.map((s) => `${s.labels.embedded_kind}:${s.labels.embedded_key}`).sort(), [
    'cluster:kubernetes',
    'user:kubernetes-admin',
  ]);
  assert.equal(samples.find((s) => s.name === 'x509_read_errors')!.value, 0);
  assert.equal(samples.find((s) => s.name === 'kpki_node_reachable')!.value, 1);
});

test('exporter serves /metrics, / and /healthz until stopped by PID; the status page puts expired certificates first, in red, in Chromium', {
  skip: !have('chromium') && 'chromium is not installed (.ci/run installs it)',
}, async () => {
  const port = 19793;
  const child = startTracked(process.execPath, [KPKI, '--root', root, 'exporter', '--listen', `127.0.0.1:${port}`]);
  await waitFor('the exporter to listen', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok);
  const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get('content-type') ?? '', /text\/plain; version=0\.0\.4/);
  assert.match(await metrics.text(), /^x509_cert_not_after\{node=.*filepath="\/etc\/kubernetes\/pki\/apiserver\.crt"/m);
  const page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  assert.match(page, /<h1>kpki: critical<\/h1>/);
  const firstRow = /<tbody>\n<tr class="sev(\d)">/.exec(page)!;
  assert.equal(firstRow[1], '2', 'problems first');

  // What a person sees, as Chromium renders it: the text it parsed (the DOM after loading), then the picture, its
  // parts found by their colours wherever the layout puts them (no coordinates).
  const chromium = (...args: string[]) =>
    spawnSync(
      'chromium',
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${join(scratch, 'profile')}`,
        '--hide-scrollbars',
        '--window-size=1200,900',
        ...args,
        `http://127.0.0.1:${port}/`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
  const dom = chromium('--dump-dom');
  assert.equal(dom.status, 0, dom.stderr);
  assert.match(dom.stdout, /<h1>kpki: critical<\/h1>/, 'the verdict is the headline');
  assert.match(dom.stdout, /<svg id="timeline"[^>]*aria-label="expiry timeline"/, 'the timeline is part of the page');
  const rows = [...dom.stdout.matchAll(/<tr class="sev(\d)">([\s\S]*?)<\/tr>/g)];
  assert.ok(
    rows.length > 10 && rows[0][1] === '2' && /apiserver/.test(rows.map((r) => r[2]).join('')),
    'the table lists every certificate, problems first',
  );
  const shot = process.env.KPKI_KEEP_SCREENSHOT ?? join(scratch, 'status.png');
  const r = chromium(`--screenshot=${shot}`);
  assert.equal(r.status, 0, r.stderr);
  const png = PNG.sync.read(readFileSync(shot));
  const at = (x: number, y: number) => Array.from(png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 3));
  const near = (c: number[], hex: string) => {
    const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    return c.every((v, i) => Math.abs(v - want[i]) < 24);
  };
  /** Per row of pixels, how many are of this colour. */
  const perRow = (hex: string) =>
    Array.from({ length: png.height }, (_, y) => Array.from({ length: png.width }, (_, x) => near(at(x, y), hex)).filter(Boolean).length);
  const red = perRow('#c62828');
  const green = perRow('#2e7d32');
  const blue = perRow('#1565c0');
  // the banner: a band of rows in the critical red across most of the page's width, above everything else
  const banner = red.findIndex((n) => n > png.width / 2);
  assert.ok(banner >= 0 && banner < png.height / 4, `a red banner at the top (first wide red row: ${banner})`);
  // the timeline: where the blue "now" line runs; on its rows, red marks (the expired leaves) and green ones (the CAs)
  const band = blue.map((n, y) => (n > 0 && n < 10 ? y : -1)).filter((y) => y > banner);
  assert.ok(band.length > 20, `the "now" line of the timeline: ${band.length} rows`);
  const sum = (counts: number[], from: number, to: number) => counts.slice(from, to + 1).reduce((a, b) => a + b, 0);
  assert.ok(sum(red, band[0], band.at(-1)!) > 80, 'red expiry marks in the timeline');
  assert.ok(sum(green, band[0], band.at(-1)!) > 20, 'green CA marks in the timeline');
  // below it the table: the first red row (a problem) comes before the first green one (a valid certificate)
  const below = (counts: number[]) => counts.findIndex((n, y) => y > band.at(-1)! && n > 0);
  assert.ok(below(red) > 0 && below(green) > 0 && below(red) < below(green), 'red rows above green rows');
  process.kill(child.pid!, 'SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(child.exitCode, 0);
});

test('the shipped alert rules: promtool check rules, and promtool test rules fires each alert when it should', {
  skip: !have('promtool') && 'promtool is not installed (.ci/run installs prometheus)',
}, () => {
  const dir = join(import.meta.dirname, '..', '..', 'deploy', 'prometheus');
  const check = spawnSync('promtool', ['check', 'rules', 'kpki-alerts.yaml'], { cwd: dir, encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /SUCCESS: 7 rules found/);
  const unit = spawnSync('promtool', ['test', 'rules', 'kpki-alerts.test.yaml'], { cwd: dir, encoding: 'utf8' });
  assert.equal(unit.status, 0, unit.stdout + unit.stderr);
});
