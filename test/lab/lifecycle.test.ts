// The lab starts and stops cleanly many times in a row, and a crashed run (attached or detached) leaves nothing that
// blocks the next one. Small 1 + 1 labs on 127.0.0.40-42, so this file can run beside the 3 + 1 lab of cluster.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import '../../src/pki/provider.js';
import { Lab } from '../../lab/lab.js';
import { apiReady, tcpOpen } from '../../lab/health.js';
import { isAlive, processesOfLab } from '../../lab/processes.js';
import { apiUrl, eventually, kubectl, labSkipReason } from '../helpers/lab-tools.js';
import { execFileAsync } from '../helpers/processes.js';

const skip = labSkipReason();
const BASE = 40;
const PROJECT = join(import.meta.dirname, '..', '..');
const small = { controlPlanes: 1, workers: 1, baseOctet: BASE };

/** Nothing of the lab is left: processes, files, listening ports. */
async function assertGone(id: string, dir: string, pids: number[]): Promise<void> {
  assert.deepEqual(processesOfLab(id), [], 'no process of the lab');
  assert.deepEqual(pids.filter(isAlive), [], 'every PID the lab had is gone');
  assert.equal(existsSync(dir), false, `${dir} removed`);
  assert.equal(existsSync(`/run/kpki-lab/lab-${BASE}.json`), false, 'state file removed');
  for (const port of [22, 2379, 6443]) assert.equal((await tcpOpen(`127.0.0.${BASE + 1}`, port, 300)).ok, false, `port ${port} closed`);
}

test('the lab starts and stops cleanly many times in a row', { skip }, async () => {
  for (let round = 1; round <= 3; round++) {
    const lab = await Lab.start(small);
    const { id, dir } = lab;
    const pids = lab.pids();
    try {
      const r = await kubectl(lab.adminKubeconfig, ['get', '--raw', '/readyz'], apiUrl(lab.node(1)));
      assert.equal(r.out.trim(), 'ok', `round ${round}: ${r.out}`);
    } finally {
      await lab.stop();
    }
    await assertGone(id, dir, pids);
  }
});

test('a test process that dies takes its attached lab with it, and the next start is not blocked; while it runs, its addresses are refused', {
  skip,
}, async () => {
  const script = `import '${PROJECT}/src/pki/provider.ts'; import { Lab } from '${PROJECT}/lab/lab.ts';
    const lab = await Lab.start({ controlPlanes: 1, workers: 1, baseOctet: ${BASE} });
    const s = lab.state; // the lab's long-lived processes (pods and SSH sessions may come and go on their own)
    const roots = [...Object.values(s.unsharePids), ...Object.values(s.initPids), s.loadBalancerPid];
    console.log('UP', lab.id, lab.dir, JSON.stringify(roots)); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: PROJECT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // a failing assertion must not leave the lab's owner (and so the lab) running
  const killOwner = () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL');
  try {
    await refusedWhileOwned(child);
  } finally {
    killOwner();
  }
});

async function refusedWhileOwned(child: ReturnType<typeof spawn>): Promise<void> {
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`lab process exited with ${code} before the lab was up: ${out}`)));
  });
  const [, id, dir, pidsJson] = line.split(' ');
  // While its owner runs, the lab is in use: a start on its addresses is refused and leaves it running.
  await assert.rejects(Lab.start(small), new RegExp(`127\\.0\\.0\\.${BASE}-${BASE + 4} is in use by process ${child.pid}`));
  assert.deepEqual(
    (JSON.parse(pidsJson) as number[]).filter((pid) => !isAlive(pid)),
    [],
    "the running lab's processes untouched",
  );
  process.kill(child.pid!, 'SIGKILL'); // a crash: no stop(), no cleanup of its own
  await eventually(
    'the nodes to notice and stop',
    async () => processesOfLab(id),
    (left) => left.length === 0,
    30_000,
  );
  assert.deepEqual((JSON.parse(pidsJson) as number[]).filter(isAlive), []);

  const lab = await Lab.start(small); // removes what the dead run left (its directory, its state file)
  try {
    assert.equal(existsSync(dir), false);
    assert.equal((await apiReady(lab.node(1))).ok, true);
  } finally {
    await lab.stop();
  }
}

test('npm run lab -- up|status|down for a person; a detached lab left running is cleaned up by the next start', { skip }, async () => {
  const cli = (...args: string[]) =>
    execFileAsync(process.execPath, ['--import', 'tsx', 'lab/cli.ts', ...args, '--base-octet', String(BASE)], {
      cwd: PROJECT,
      timeout: 120_000,
    });
  const up = await cli('up', '--control-planes', '1', '--workers', '1');
  assert.match(up.stdout, /lab-cp1\s+127\.0\.0\.41\s+control-plane/);
  assert.doesNotMatch(up.stdout, /FAIL/);
  const detached = Lab.attach(BASE)!;
  const pids = detached.pids();
  const status = await cli('status');
  assert.match(status.stdout, /ok\s+kube-apiserver\s+ready/);
  assert.match(status.stdout, /pod etcd-lab-cp1\s+running/);

  // The `up` process is gone and the lab keeps running; a new start (as after a crash) stops it first.
  const lab = await Lab.start(small);
  assert.deepEqual(pids.filter(isAlive), [], 'the detached lab was stopped by PID');
  assert.equal(existsSync(detached.dir), false);
  await lab.stop();

  await cli('up', '--control-planes', '1', '--workers', '0');
  const again = Lab.attach(BASE)!;
  const down = await cli('down');
  assert.match(down.stdout, /lab stopped/);
  await assertGone(again.id, again.dir, again.pids());
  const none = await cli('status').catch((err) => err);
  assert.equal(none.code, 3);
});

test('a lab whose certificates all expired starts, and shows it: API refused, components unhealthy', { skip }, async () => {
  const lab = await Lab.start({ ...small, expired: ['all'] });
  try {
    const node = lab.node(1);
    await eventually(
      'the pods to run',
      async () => node.pods(),
      (pods) => pods.length === 4 && pods.every((p) => p.state === 'running'),
    );
    // (until the stand-in listens, kubectl says "connection refused")
    const r = await eventually(
      'kubectl to reach the API server',
      () => kubectl(lab.adminKubeconfig, ['get', '--raw', '/readyz'], apiUrl(node)),
      (x) => !/refused/.test(x.out),
    );
    assert.match(r.out, /x509: certificate has expired or is not yet valid/);
    const health = await node.health();
    assert.equal(health.checks['kube-apiserver'].ok, false);
    assert.equal(health.checks.etcd.ok, false);
  } finally {
    await lab.stop();
  }
});
