// kpki exporter on a lab tree: metrics with x509-certificate-exporter's names and labels, judged by promtool
// (Debian `prometheus`) and by openssl's dates; the HTTP server; the status page rendered in headless Chromium and
// checked on its screenshot (colours where the expired certificates are), not only its HTTP status.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { copyTree, expiredControlPlane } from '../helpers/lab.js';
import { KPKI, kpki, removeTree } from '../helpers/kpki.js';
import { openssl } from '../helpers/openssl.js';
import { have } from '../helpers/lab-tools.js';
import { startTracked, stopAll, waitFor } from '../helpers/processes.js';

let root = '';
const scratch = mkdtempSync(join(tmpdir(), 'kpki-exporter-'));
const REPO = join(import.meta.dirname, '..', '..');
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
  assert.equal(samples.find((s) => s.name === 'kpki_node_reachable')!.value, 1);
  // v4 (the default): one fixed label set on every x509_cert_* series, empty where a label does not apply
  const labelSets = new Set(samples.filter((s) => s.name.startsWith('x509_cert_')).map((s) => Object.keys(s.labels).sort().join(',')));
  assert.equal(labelSets.size, 1, [...labelSets].join('\n'));
  assert.equal(api.labels.embedded_kind, '');
  assert.equal(api.labels.subject_O, '');
  assert.equal(
    samples.some((s) => s.name === 'x509_read_errors'),
    false,
    'v4 has no x509_read_errors',
  );
  for (const kind of ['file', 'kubeconfig'])
    assert.equal(samples.find((s) => s.name === 'x509_source_up' && s.labels.source_kind === kind)!.value, 1, kind);
  assert.ok(samples.find((s) => s.name === 'x509_source_bundles' && s.labels.source_kind === 'file')!.value >= 10);
  assert.ok(samples.find((s) => s.name === 'x509_exporter_build_info')!.labels.version);
  assert.ok(samples.some((s) => s.name === 'x509_scrape_duration_seconds_count'));
});

test('exporter --metrics-compat: v3 keeps x509_read_errors and only the labels a certificate has; both has the v4 set and x509_read_errors', {
  skip: !have('promtool') && 'promtool is not installed (.ci/run installs prometheus)',
}, () => {
  for (const compat of ['v3', 'both']) {
    const r = kpki(['--root', root, 'exporter', '--once', '--metrics-compat', compat]);
    assert.equal(r.status, 0, r.stderr);
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: r.stdout, encoding: 'utf8' });
    assert.equal(lint.status, 0, `${compat}: ${lint.stdout}${lint.stderr}`);
    const samples = parse(r.stdout);
    assert.equal(samples.find((s) => s.name === 'x509_read_errors')!.value, 0, compat);
    const api = samples.find((s) => s.name === 'x509_cert_not_after' && s.labels.filepath === '/etc/kubernetes/pki/apiserver.crt')!;
    assert.equal('embedded_kind' in api.labels, compat === 'both', `${compat}: the fixed label set`);
    assert.equal(
      samples.some((s) => s.name === 'x509_source_up'),
      compat === 'both',
      compat,
    );
  }
  const wrong = kpki(['--root', root, 'exporter', '--once', '--metrics-compat', 'v5']);
  assert.equal(wrong.status, 2, wrong.stderr);
});

test('every problem kpki finds is a kpki_certificate_problem series: a loose key mode, a key that does not match, a journal left behind', {
  skip: !have('promtool') && 'promtool is not installed (.ci/run installs prometheus)',
}, () => {
  const bad = copyTree(root);
  try {
    chmodSync(join(bad, 'etc/kubernetes/pki/apiserver.key'), 0o644);
    copyFileSync(join(bad, 'etc/kubernetes/pki/front-proxy-client.key'), join(bad, 'etc/kubernetes/pki/apiserver-kubelet-client.key'));
    mkdirSync(join(bad, 'var/lib/kpki'), { recursive: true });
    writeFileSync(
      join(bad, 'var/lib/kpki/journal.json'),
      JSON.stringify({ operation: 'renew', backupId: 'gone', pid: 1, startedAt: new Date().toISOString(), writes: [] }),
    );
    const r = kpki(['--root', bad, 'exporter', '--once', '--check-keys']);
    assert.equal(r.status, 0, r.stderr);
    const problems = parse(r.stdout)
      .filter((s) => s.name === 'kpki_certificate_problem' && s.value === 1)
      .map((s) => `${s.labels.certificate}|${s.labels.filepath}|${s.labels.problem}`);
    assert.ok(problems.includes('apiserver|/etc/kubernetes/pki/apiserver.key|loose-mode'), problems.join('\n'));
    assert.ok(
      problems.includes('apiserver-kubelet-client|/etc/kubernetes/pki/apiserver-kubelet-client.crt|key-mismatch'),
      problems.join('\n'),
    );
    assert.ok(problems.includes('||journal-pending'), problems.join('\n'));
  } finally {
    removeTree(bad);
  }
});

/** The metric names a v4 scrape of the exporter emits (a histogram's series too). */
function emittedNames(): Set<string> {
  const r = kpki(['--root', root, 'exporter', '--once']);
  const names = [...r.stdout.matchAll(/^# TYPE (\S+) (\w+)$/gm)].flatMap(([, name, type]) =>
    type === 'histogram' ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name],
  );
  return new Set(names);
}

const metricNamesIn = (expr: string) => [...expr.matchAll(/\b(?:x509|kpki)_[a-z0-9_]+/g)].map((m) => m[0]);

test('the shipped alert rules and Grafana dashboard query only metrics the exporter emits, in PromQL promtool accepts', {
  skip: !have('promtool') && 'promtool is not installed (.ci/run installs prometheus)',
}, () => {
  const emitted = emittedNames();
  const rules = parseYaml(readFileSync(join(REPO, 'deploy/prometheus/kpki-alerts.yaml'), 'utf8')) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  const dashboard = JSON.parse(readFileSync(join(REPO, 'deploy/grafana/kpki-dashboard.json'), 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const queries = [
    ...rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))),
    ...dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: `panel "${p.title}"`, expr: t.expr }))),
  ];
  assert.ok(queries.length > 25, `${queries.length} queries`);
  const unknown = queries.flatMap((q) =>
    metricNamesIn(q.expr)
      .filter((n) => !emitted.has(n))
      .map((n) => `${q.where}: ${n}`),
  );
  assert.deepEqual(unknown, [], 'every metric a query names is one the exporter emits');
  // the dashboard's queries as recording rules: promtool parses each as PromQL
  const file = join(scratch, 'dashboard-queries.yaml');
  writeFileSync(
    file,
    `groups:\n  - name: dashboard\n    rules:\n${queries.map((q, i) => `      - record: kpki:query:${i}\n        expr: ${JSON.stringify(q.expr)}\n`).join('')}`,
  );
  const check = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  // and the check can fail: a name the exporter does not emit is found
  assert.deepEqual(
    metricNamesIn('x509_read_errors > 0').filter((n) => !emitted.has(n)),
    ['x509_read_errors'],
  );
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
  assert.match(check.stdout, /SUCCESS: 16 rules found/);
  const tests = ['kpki-alerts.test.yaml', 'kpki-alerts-long.test.yaml'];
  const unit = spawnSync('promtool', ['test', 'rules', ...tests], { cwd: dir, encoding: 'utf8' });
  assert.equal(unit.status, 0, unit.stdout + unit.stderr);
  // every alert shipped is shown firing by a test (an alert no test fires could never fire)
  const alerts = [...readFileSync(join(dir, 'kpki-alerts.yaml'), 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
  const firing = new Set(
    tests.flatMap((t) =>
      (
        parseYaml(readFileSync(join(dir, t), 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] }
      ).tests
        .flatMap((g) => g.alert_rule_test)
        .filter((a) => a.exp_alerts.length > 0)
        .map((a) => a.alertname),
    ),
  );
  assert.deepEqual(
    alerts.filter((a) => !firing.has(a)),
    [],
  );
});
