// Installed like a user installs it: `npm pack`, then `npm install -g --prefix` of that tarball into an empty prefix
// (its dependencies from the registry, no dev dependencies, install scripts refused), then kpki run from there, away
// from the checkout: demo, check -o json, and `kubectl kpki` finding the plugin on PATH.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeTree, tempRoot } from '../helpers/kpki.js';
import { have } from '../helpers/lab-tools.js';

const PROJECT = join(import.meta.dirname, '..', '..');
const dirs: string[] = [];
after(() => dirs.forEach(removeTree));

/** The npm registry answers (CI and this machine reach it; elsewhere the test says why it cannot run). */
const registry = spawnSync('npm', ['view', 'commander', 'version'], { encoding: 'utf8', timeout: 30_000 }).status === 0;

test('npm pack, npm install -g --prefix (no dev dependencies, scripts refused): kpki demo, check -o json and kubectl kpki check run from the prefix', {
  skip: !registry && 'the npm registry is not reachable',
}, () => {
  const dir = tempRoot('kpki-install-');
  dirs.push(dir);
  // (dist is built by `npm test` before the tests: packing must not build again under running tests)
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: PROJECT, encoding: 'utf8' });
  assert.equal(pack.status, 0, pack.stderr);
  const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
  const prefix = join(dir, 'prefix');
  const install = spawnSync(
    'npm',
    ['install', '-g', '--prefix', prefix, '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', tarball],
    { cwd: dir, encoding: 'utf8', timeout: 300_000 },
  );
  assert.equal(install.status, 0, install.stdout + install.stderr);
  const bin = join(prefix, 'bin');
  assert.ok(existsSync(join(bin, 'kpki')) && existsSync(join(bin, 'kubectl-kpki')), 'both names are linked');
  assert.equal(
    existsSync(join(prefix, 'lib', 'node_modules', 'kpki', 'node_modules', 'typescript')),
    false,
    'no dev dependency is installed',
  );
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });

  const demoDir = join(dir, 'demo');
  const demo = run('kpki', ['demo', '--ecdsa', '--dir', demoDir]);
  assert.equal(demo.status, 0, demo.stdout + demo.stderr);
  assert.match(demo.stdout, /Verified: every renewed certificate is signed by its CA/);
  const check = run('kpki', ['--root', demoDir, 'check', '-o', 'json']);
  assert.equal(check.status, 0, check.stderr);
  assert.equal(JSON.parse(check.stdout).kind, 'CertificateExpirationInfo');
  if (have('kubectl')) {
    const plugin = run('kubectl', ['kpki', '--root', demoDir, 'check']);
    assert.equal(plugin.status, 0, plugin.stdout + plugin.stderr);
    assert.match(plugin.stdout, /^CERTIFICATE +EXPIRES/m);
  }
});
