// A crash campaign: `renew all` and `restore` SIGKILLed on an RSA-2048 tree, a third of the kills at random moments
// of the whole run, two thirds while the run writes (renew: a few milliseconds after its journal appears, between a
// key and its certificate, in the middle of a kubeconfig, between two renames; restore, whose writes are over sooner
// than a watcher can tell: SIGKILLed by itself before a random rename). Only a kill that left the journal landed in
// the writes, and a minimum of those is required. After every kill the next run must leave one consistent tree: every
// key matches its certificate, no file readable by others, every link points at a file, no temp file anywhere. The
// seed is printed to replay a run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { KPKI, kpkiAsync, removeTree } from '../helpers/kpki.js';
import { copyTree, expiredControlPlane } from '../helpers/lab.js';
import type { JsonInfo } from '../helpers/judge.js';

const KILLS = 30;
/** Kills that must land while the run writes (leaving its journal). */
const MIN_RENEW_MID_WRITE = KILLS / 3;
const MIN_RESTORE_MID_WRITE = KILLS / 4;
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

const JOURNAL = 'var/lib/kpki/journal.json';

/**
 * Starts kpki and SIGKILLs it `ms` after it starts, or (`whileWriting`) `ms` after its journal appears, if it still
 * runs; resolves with its exit code (128 when killed) and whether the kill left the journal (it landed in the writes).
 */
function killed(
  root: string,
  args: string[],
  ms: number,
  whileWriting: boolean,
  env: Record<string, string> = {},
): Promise<{ code: number; midWrite: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [KPKI, ...args], { stdio: 'ignore', env: { ...process.env, ...env } });
    const kill = () => child.kill('SIGKILL');
    let timer: NodeJS.Timeout | undefined;
    const watcher = whileWriting
      ? watch(join(root, 'var/lib/kpki'), (_event, file) => {
          if (file === 'journal.json' && !timer && existsSync(join(root, JOURNAL))) timer = setTimeout(kill, ms);
        })
      : undefined;
    if (!whileWriting) timer = setTimeout(kill, ms);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      watcher?.close();
      resolve({ code: signal ? 128 : (code ?? 1), midWrite: existsSync(join(root, JOURNAL)) });
    });
  });
}

/** kpki's temp files anywhere in the tree (atomic writes and backups never finished: ".<name>.kpki-<hex>.tmp"). */
function tempFiles(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel)).flatMap((name) => {
    const path = join(rel, name);
    if (/\.kpki-[0-9a-f]+\.tmp$/.test(name)) return [path];
    return lstatSync(join(dir, path)).isDirectory() ? tempFiles(dir, path) : [];
  });
}

async function assertConsistent(root: string, label: string): Promise<void> {
  const r = await kpkiAsync(['--root', root, 'check', '-o', 'json']);
  assert.notEqual(r.status, 3, `${label}: the tree cannot be read: ${r.stderr} (replay with KPKI_CRASH_SEED=${seed})`);
  const info = JSON.parse(r.stdout) as JsonInfo;
  for (const item of [...info.certificates, ...info.certificateAuthorities]) {
    // (the tree's leaves expired and outlive nothing else: every other problem, a loose mode included, is a defect)
    const bad = item.problems.filter((p) => p.code !== 'outlives-ca');
    assert.deepEqual(bad, [], `${label}: ${item.name}: ${JSON.stringify(bad)} (replay with KPKI_CRASH_SEED=${seed})`);
  }
  assert.deepEqual(info.files ?? [], [], `${label}: file modes or owners (replay with KPKI_CRASH_SEED=${seed})`);
  assert.equal(info.interruptedRun, undefined, `${label}: a journal is left`);
  assert.deepEqual(tempFiles(root), [], `${label}: temp files left`);
}

interface Tally {
  renew: number;
  renewMidWrite: number;
  restore: number;
  restoreMidWrite: number;
}

/** The campaign on one tree: kills of renew, then kills of restore of the backups those left. */
async function campaign(root: string, kills: number, next: () => number, tally: Tally, name: string): Promise<void> {
  // renew of 13 RSA-2048 keys takes about a second, less on faster runtimes: random kills are spread over the time a
  // whole run takes here, the others over the few milliseconds after the journal appears (the writes take ~50 ms)
  const expiredCert = readFileSync(join(root, 'etc/kubernetes/pki/apiserver.crt'));
  const renewMs = await timed(['--root', root, 'renew', 'all', '--yes']);
  const newestBackup = async (): Promise<string> =>
    JSON.parse((await kpkiAsync(['--root', root, 'backups', '-o', 'json'])).stdout).filter(
      (b: { incomplete?: boolean }) => !b.incomplete,
    )[0].id;
  const expiredBackup = await newestBackup(); // (the tree as it was: every leaf expired)
  // on a busy machine more kills may miss the writes: go on (up to twice as many) until the minimum has landed
  for (let i = 0; i < kills || (tally.renewMidWrite < MIN_RENEW_MID_WRITE && i < 2 * kills); i++) {
    const whileWriting = i % 3 !== 0;
    const ms = whileWriting ? Math.floor(next() * 25) : 20 + Math.floor(next() * renewMs);
    const k = await killed(root, ['--root', root, 'renew', 'all', '--yes'], ms, whileWriting);
    if (k.code === 128) tally.renew++;
    if (k.midWrite) tally.renewMidWrite++;
    // the next run: a renew with nothing due still rolls back what the killed one half did
    const again = await kpkiAsync(['--root', root, 'renew', 'all', '--if-expires-within', '1h', '--yes']);
    assert.equal(again.status, 0, `${name}: renew after kill ${i}: ${again.stderr} (seed ${seed})`);
    await assertConsistent(root, `${name}: renew kill ${i}`);
  }
  // two backups that differ in every leaf: the expired tree, and a renewed one (what the renew below replaces). Each
  // restore goes to the one the tree is not at (the backups of killed renews that were rolled back all hold the tree
  // as it is, and a restore to them would write nothing)
  await timed(['--root', root, 'renew', 'all', '--yes']);
  const renewedBackup = await newestBackup();
  const restoreMs = await timed(['--root', root, 'restore', renewedBackup]);
  for (let i = 0; i < kills || (tally.restoreMidWrite < MIN_RESTORE_MID_WRITE && i < 2 * kills); i++) {
    const expiredNow = readFileSync(join(root, 'etc/kubernetes/pki/apiserver.crt')).equals(expiredCert);
    const id = expiredNow ? renewedBackup : expiredBackup;
    const whileWriting = i % 3 !== 0;
    // a restore puts its files in place within a few milliseconds, often less than fs.watch needs to tell the journal
    // appeared on a busy machine: its kills while writing come from kpki itself, before a random one of its first 20
    // renames (KPKI_TEST_KILL_AT_WRITE), as SIGKILL, and count only when they left the journal, as the others
    const k = whileWriting
      ? await killed(root, ['--root', root, 'restore', id], 600_000, false, { KPKI_TEST_KILL_AT_WRITE: String(Math.floor(next() * 20)) })
      : await killed(root, ['--root', root, 'restore', id], 20 + Math.floor(next() * restoreMs), false);
    if (k.code === 128) tally.restore++;
    if (k.midWrite) tally.restoreMidWrite++;
    // the next run: the restore again, or (every other time) a renew that first rolls the killed restore back
    const after = await kpkiAsync(['--root', root, ...(i % 2 ? ['renew', 'all', '--if-expires-within', '1h', '--yes'] : ['restore', id])]);
    assert.equal(after.status, 0, `${name}: run after restore kill ${i}: ${after.stderr} (seed ${seed})`);
    await assertConsistent(root, `${name}: restore kill ${i}`);
  }
}

test(`${KILLS} or more SIGKILLs of renew and of restore on RSA trees, most while they write: after each, the next run leaves one consistent tree (seed ${seed})`, async () => {
  const template = await expiredControlPlane({}, 'RSA-2048');
  const root = copyTree(template);
  const tally: Tally = { renew: 0, renewMidWrite: 0, restore: 0, restoreMidWrite: 0 };
  try {
    // one tree at a time: the campaign keeps to one core while the lab suites run beside it
    await campaign(root, KILLS, random(seed), tally, 'tree');
  } finally {
    [root, template].forEach(removeTree);
  }
  console.log(
    `crash campaign (seed ${seed}): renew ${tally.renew} killed, ${tally.renewMidWrite} of them while writing (a journal left); restore ${tally.restore} killed, ${tally.restoreMidWrite} while writing; every tree consistent after the next run`,
  );
  // a kill that left no journal proves only that nothing had been written yet: enough kills must land in the writes
  assert.ok(tally.renewMidWrite >= MIN_RENEW_MID_WRITE && tally.restoreMidWrite >= MIN_RESTORE_MID_WRITE, JSON.stringify(tally));
});
