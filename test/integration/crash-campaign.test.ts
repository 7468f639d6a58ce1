// A crash campaign: `renew all` and `restore` SIGKILLed at random moments on an RSA-2048 tree (key generation makes
// renew last long enough for kills to land anywhere: before the backup, between a key and its certificate, in the
// middle of a kubeconfig, while the journal is written). After every kill the next run must leave one consistent tree:
// every key matches its certificate, every link points at a file, no leftovers. The seed is printed to replay a run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KPKI, kpkiAsync, removeTree } from '../helpers/kpki.js';
import { copyTree, expiredControlPlane } from '../helpers/lab.js';
import type { JsonInfo } from '../helpers/judge.js';

const KILLS = 30;
const seed = Number(process.env.KPKI_CRASH_SEED ?? Date.now() % 1_000_000);

/** A small seeded generator (mulberry32), so a failing campaign can be replayed with KPKI_CRASH_SEED. */
function random(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How long an uninterrupted run takes on this machine and runtime, so that kills are spread over the run itself. */
async function timed(args: string[]): Promise<number> {
  const started = performance.now();
  const r = await kpkiAsync(args);
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  return performance.now() - started;
}

/** Starts kpki and SIGKILLs it after `ms` (if it is still running); resolves with its exit code (128 when killed). */
function killedAfter(args: string[], ms: number): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [KPKI, ...args], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(signal ? 128 : (code ?? 1));
    });
  });
}

async function assertConsistent(root: string, label: string): Promise<void> {
  const r = await kpkiAsync(['--root', root, 'check', '-o', 'json']);
  assert.notEqual(r.status, 3, `${label}: the tree cannot be read: ${r.stderr} (replay with KPKI_CRASH_SEED=${seed})`);
  const info = JSON.parse(r.stdout) as JsonInfo;
  for (const item of [...info.certificates, ...info.certificateAuthorities]) {
    const bad = item.problems.filter((p) => !['loose-mode', 'outlives-ca'].includes(p.code));
    assert.deepEqual(bad, [], `${label}: ${item.name}: ${JSON.stringify(bad)} (replay with KPKI_CRASH_SEED=${seed})`);
  }
  assert.equal(info.interruptedRun, undefined, `${label}: a journal is left`);
  const leftovers = readdirSync(join(root, 'etc/kubernetes/pki')).filter((f) => f.endsWith('.tmp'));
  assert.deepEqual(leftovers, [], `${label}: temp files left`);
}

/** The campaign on one tree: kills of renew, then kills of restore of the backups those left. */
async function campaign(
  root: string,
  kills: number,
  next: () => number,
  tally: { renew: number; restore: number },
  name: string,
): Promise<void> {
  // renew of 13 RSA-2048 keys takes about a second, less on faster runtimes: kills are spread over the time a whole run
  // takes here, so they land before, during and after the writes whatever the machine
  const renewMs = await timed(['--root', root, 'renew', 'all', '--yes']);
  for (let i = 0; i < kills; i++) {
    if ((await killedAfter(['--root', root, 'renew', 'all', '--yes'], 20 + Math.floor(next() * renewMs))) === 128) tally.renew++;
    // the next run: a renew with nothing due still rolls back what the killed one half did
    const again = await kpkiAsync(['--root', root, 'renew', 'all', '--if-expires-within', '1h', '--yes']);
    assert.equal(again.status, 0, `${name}: renew after kill ${i}: ${again.stderr} (seed ${seed})`);
    await assertConsistent(root, `${name}: renew kill ${i}`);
  }
  const backups = JSON.parse((await kpkiAsync(['--root', root, 'backups', '-o', 'json'])).stdout).filter(
    (b: { incomplete?: boolean }) => !b.incomplete,
  );
  const restoreMs = await timed(['--root', root, 'restore', backups[0].id]);
  for (let i = 0; i < kills; i++) {
    const id = backups[Math.floor(next() * backups.length)].id as string;
    if ((await killedAfter(['--root', root, 'restore', id], 20 + Math.floor(next() * restoreMs))) === 128) tally.restore++;
    // the next run: the restore again, or (every other time) a renew that first rolls the killed restore back
    const after = await kpkiAsync(['--root', root, ...(i % 2 ? ['renew', 'all', '--if-expires-within', '1h', '--yes'] : ['restore', id])]);
    assert.equal(after.status, 0, `${name}: run after restore kill ${i}: ${after.stderr} (seed ${seed})`);
    await assertConsistent(root, `${name}: restore kill ${i}`);
  }
}

test(`${KILLS} random SIGKILLs of renew and ${KILLS} of restore on RSA trees: after each, the next run leaves one consistent tree (seed ${seed})`, async () => {
  const template = await expiredControlPlane({}, 'RSA-2048');
  const root = copyTree(template);
  const tally = { renew: 0, restore: 0 };
  try {
    // one tree at a time: the campaign keeps to one core while the lab suites run beside it
    await campaign(root, KILLS, random(seed), tally, 'tree');
  } finally {
    [root, template].forEach(removeTree);
  }
  console.log(
    `crash campaign (seed ${seed}): ${tally.renew}/${KILLS} renews and ${tally.restore}/${KILLS} restores killed mid-run; every tree consistent after the next run`,
  );
  // most kills must land while the run works, or the campaign proves little
  assert.ok(tally.renew >= KILLS * 0.6 && tally.restore >= KILLS * 0.3, JSON.stringify(tally));
});
