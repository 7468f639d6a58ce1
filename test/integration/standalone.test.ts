// The standalone executable (npm run build:sea: Node's single-executable application) on a machine without Node.js
// in PATH: check, renew (judged by openssl), the exporter (judged by promtool), timer install copying itself where
// the units expect it, `kpki install`, the kubectl plugin (`kubectl kpki check` through real kubectl), and --inventory
// over SSH (bundled ssh2, pure JavaScript) against real sshd on two lightweight lab nodes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expiredControlPlane } from '../helpers/lab.js';
import { removeTree, tempRoot } from '../helpers/kpki.js';
import { verifies } from '../helpers/openssl.js';
import { have, labSkipReason } from '../helpers/lab-tools.js';
import { Lab } from '../../lab/lab.js';
import { tcpOpen } from '../../lab/health.js';
import { waitFor } from '../helpers/processes.js';

const PROJECT = join(import.meta.dirname, '..', '..');
const scratch = tempRoot('kpki-sea-');
const BINARY = join(scratch, 'kpki-linux-x64');
const EMPTY = join(scratch, 'empty-path');
let root = '';

/** The binary with an environment whose PATH has no node (nor anything else). */
function sea(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(BINARY, args, { encoding: 'utf8', env: { PATH: EMPTY, HOME: scratch, NO_COLOR: '1', ...env }, timeout: 120_000 });
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

before(async () => {
  mkdirSync(EMPTY);
  const built = spawnSync(process.execPath, [join(PROJECT, 'scripts', 'build-sea.mjs')], {
    cwd: PROJECT,
    encoding: 'utf8',
    env: { ...process.env, KPKI_SEA_OUT: BINARY },
  });
  assert.equal(built.status, 0, built.stderr);
  root = await expiredControlPlane();
});
after(() => {
  removeTree(root);
  removeTree(scratch);
});

test('the standalone executable checks and renews a node without Node.js in PATH; openssl verifies what it wrote', () => {
  assert.equal(spawnSync('/bin/sh', ['-c', 'command -v node'], { env: { PATH: EMPTY } }).status, 127, 'no node in this PATH');
  assert.match(readFileSync(BINARY).subarray(0, 4).toString('latin1'), /^\x7fELF$/);
  const check = sea(['--root', root, 'check', '-o', 'json']);
  assert.equal(check.status, 2, check.stderr);
  assert.ok(
    JSON.parse(check.stdout).certificates.some(
      (c: { name: string; status: string[] }) => c.name === 'apiserver' && c.status.includes('expired'),
    ),
  );
  const renew = sea(['--root', root, 'renew', 'all', '--yes']);
  assert.equal(renew.status, 0, renew.stdout + renew.stderr);
  const pki = join(root, 'etc/kubernetes/pki');
  assert.ok(verifies(join(pki, 'ca.crt'), join(pki, 'apiserver.crt')).ok);
  assert.equal(sea(['--root', root, 'check']).status, 0);
});

test('the standalone exporter passes promtool; timer install copies the executable to where the units run it', {
  skip: !have('promtool') && 'promtool missing',
}, () => {
  const metrics = sea(['--root', root, 'exporter', '--once']);
  assert.equal(metrics.status, 0, metrics.stderr);
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: metrics.stdout, encoding: 'utf8' });
  assert.equal(lint.status, 0, lint.stdout + lint.stderr);
  const disk = tempRoot();
  try {
    const r = sea(['--root', disk, 'timer', 'install', '--yes']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /The kpki on the node: \/usr\/local\/bin\/kpki \(copied from .*kpki-linux-x64\)/);
    const installed = join(disk, 'usr/local/bin/kpki');
    assert.ok(readFileSync(installed).equals(readFileSync(BINARY)), 'byte for byte');
    assert.equal(statSync(installed).mode & 0o777, 0o755);
    assert.match(
      readFileSync(join(disk, 'etc/systemd/system/kpki-renew.service'), 'utf8'),
      /^ExecStart=\/usr\/local\/bin\/kpki timer run /m,
    );
  } finally {
    removeTree(disk);
  }
});

test('kpki install puts kpki and the kubectl-kpki plugin on PATH; kubectl kpki check runs it', {
  skip: !have('kubectl') && 'kubectl missing',
}, () => {
  const disk = tempRoot();
  try {
    const r = sea(['--root', disk, 'install', '--dir', '/usr/local/bin']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const dir = join(disk, 'usr/local/bin');
    assert.equal(readlinkSync(join(dir, 'kubectl-kpki')), 'kpki');
    const plugin = spawnSync('/usr/bin/kubectl', ['kpki', '--root', root, 'check', '-o', 'kubeadm'], {
      encoding: 'utf8',
      env: { PATH: `${dir}:/usr/bin:/bin`, HOME: scratch },
    });
    assert.equal(plugin.status, 0, plugin.stdout + plugin.stderr);
    assert.match(plugin.stdout, /^CERTIFICATE +EXPIRES +RESIDUAL TIME +CERTIFICATE AUTHORITY +EXTERNALLY MANAGED$/m);
    const list = spawnSync('/usr/bin/kubectl', ['plugin', 'list'], {
      encoding: 'utf8',
      env: { PATH: `${dir}:/usr/bin:/bin`, HOME: scratch },
    });
    assert.match(list.stdout, /kubectl-kpki/);
  } finally {
    removeTree(disk);
  }
});

test('the standalone executable works over SSH (check -i, exporter -i): ssh2 bundled without its native parts', {
  skip: labSkipReason(),
}, async () => {
  // two nodes with only sshd and a kubeadm tree, on 127.0.0.71-72 (no other suite uses them)
  const lab = await Lab.start({ controlPlanes: 2, workers: 0, baseOctet: 70, sshOnly: true });
  try {
    const inventory = lab.writeInventory(join(scratch, 'inventory.yaml'));
    for (const n of lab.nodes) await waitFor(`sshd on ${n.address}`, async () => (await tcpOpen(n.address, 22, 200)).ok);
    const check = sea(['-i', inventory, 'check', '-o', 'json']);
    assert.equal(check.status, 0, check.stdout + check.stderr);
    const nodes = JSON.parse(check.stdout).nodes as { node: string; certificates: unknown[] }[];
    assert.deepEqual(
      nodes.map((n) => n.node),
      ['lab-cp1', 'lab-cp2'],
    );
    assert.ok(
      nodes.every((n) => n.certificates.length > 10),
      'each node read over SSH',
    );
    const metrics = sea(['-i', inventory, 'exporter', '--once']);
    assert.equal(metrics.status, 0, metrics.stderr);
    for (const node of ['lab-cp1', 'lab-cp2'])
      assert.match(metrics.stdout, new RegExp(`^kpki_node_reachable\\{node="${node}",role="control-plane"\\} 1$`, 'm'));
  } finally {
    await lab.stop();
  }
});
