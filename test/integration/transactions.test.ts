// Nothing lost: restore is a transaction like renew (backed up, journaled, atomic, read back), a journal whose backup
// is gone says what happened and how to go on, kpki's own leftovers are removed by the next run, old backups can be
// pruned, the lock is taken over atomically, and the hints kpki prints do what they say.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashTree, KPKI, kpki } from '../helpers/kpki.js';
import { sharedExpiredNode } from '../helpers/lab.js';
import { checkJson } from '../helpers/judge.js';

const { fresh } = sharedExpiredNode();
const PKI = 'etc/kubernetes/pki';
const BACKUPS = 'var/lib/kpki/backups';

/** No certificate or CA has a problem other than its dates: every key matches, every chain holds. */
function assertConsistent(root: string, label: string): void {
  const { info, status } = checkJson(root);
  assert.notEqual(status, 3, label);
  for (const item of [...info.certificates, ...info.certificateAuthorities]) {
    assert.deepEqual(item.problems, [], `${label}: ${item.name}: ${JSON.stringify(item.problems)}`);
  }
}

const backupIds = (root: string) =>
  JSON.parse(kpki(['--root', root, 'backups', '-o', 'json']).stdout)
    .filter((b: { incomplete?: boolean }) => !b.incomplete)
    .map((b: { id: string }) => b.id) as string[];

test('restore is journaled: killed between two files, the next run puts the tree back as it was before the restore; a second restore completes it', () => {
  const root = fresh();
  const expired = hashTree(root);
  assert.equal(kpki(['--root', root, 'renew', 'all', '--yes']).status, 0);
  const renewed = hashTree(root);
  const [first] = backupIds(root);
  const killed = kpki(['--root', root, 'restore', first], { KPKI_TEST_CRASH_AT: 'between-files' });
  assert.equal(killed.status, 128, `restore should have been killed: ${killed.stdout}${killed.stderr}`);
  // the next run (here: check first, then restore) finds the journal, says so, and rolls the half-done restore back
  assert.match(
    kpki(['--root', root, 'check']).stdout,
    /Interrupted: a restore of .* was killed half-way and left its journal; the next renew, restore or recover rolls it back/,
  );
  const again = kpki(['--root', root, 'restore', first]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /a previous restore of .* was interrupted; its files were restored from backup/);
  assertConsistent(root, 'after the second restore');
  // the first backup covers everything renew changed: the tree is the expired one again, byte for byte
  assert.notEqual(renewed, expired);
  assert.equal(hashTree(root), expired);
});

test('a journal whose backup is gone: renew says what happened and how to go on; the hint (--discard-journal) works, check mentions the journal', () => {
  const root = fresh();
  const killed = kpki(['--root', root, 'renew', 'all', '--yes'], { KPKI_TEST_CRASH_AT: 'between-files' });
  assert.equal(killed.status, 128);
  const journal = JSON.parse(readFileSync(join(root, 'var/lib/kpki/journal.json'), 'utf8'));
  rmSync(join(root, BACKUPS, journal.backupId), { recursive: true });
  const before = hashTree(root);
  const stuck = kpki(['--root', root, 'renew', 'all', '--yes']);
  assert.equal(stuck.status, 1);
  assert.match(
    stuck.stderr,
    new RegExp(`a previous renew \\(pid \\d+, started .*\\) was interrupted, and its backup ${journal.backupId} is gone`),
  );
  assert.match(stuck.stderr, /hint: .*drop the journal \(renew, restore and recover take it\): `kpki renew --discard-journal`/);
  assert.equal(hashTree(root), before, 'nothing changed');
  const check = kpki(['--root', root, 'check']);
  assert.match(
    check.stdout,
    new RegExp(
      `its backup ${journal.backupId} is gone: when every certificate above matches its key, drop the journal with \`kpki renew --discard-journal\``,
    ),
  );
  const go = kpki(['--root', root, 'renew', 'all', '--yes', '--discard-journal']);
  assert.equal(go.status, 0, go.stderr);
  assert.match(go.stderr, /discarded the journal of an interrupted renew/);
  assertConsistent(root, 'after --discard-journal');
  assert.equal(existsSync(join(root, 'var/lib/kpki/journal.json')), false);
});

test("a key that does not match: the refusal's hint (renew NAME --key-algorithm ALG) does what it says", () => {
  const root = fresh();
  copyFileSync(join(root, PKI, 'front-proxy-client.key'), join(root, PKI, 'apiserver.key'));
  const refused = kpki(['--root', root, 'renew', 'all', '--yes']);
  assert.equal(refused.status, 1);
  const hint = /make a new one deliberately: `kpki (renew apiserver --key-algorithm [^`\s]+)`/.exec(refused.stderr);
  assert.ok(hint, refused.stderr);
  const r = kpki(['--root', root, ...hint[1].split(' '), '--yes']);
  assert.equal(r.status, 0, r.stderr);
  const { info } = checkJson(root);
  assert.deepEqual(info.certificates.find((c) => c.name === 'apiserver')!.problems, []);
});

test('leftovers of a killed run (temp files, a backup never finished) are listed, removed by the next run and said', () => {
  const root = fresh();
  writeFileSync(join(root, PKI, '.apiserver.crt.kpki-deadbeef.tmp'), readFileSync(join(root, PKI, 'apiserver.crt')));
  mkdirSync(join(root, BACKUPS, '20261201T000000000Z-dead', 'files', 'etc/kubernetes/pki'), { recursive: true });
  copyFileSync(join(root, PKI, 'ca.key'), join(root, BACKUPS, '20261201T000000000Z-dead', 'files', 'etc/kubernetes/pki/ca.key'));
  assert.match(kpki(['--root', root, 'backups']).stdout, /20261201T000000000Z-dead +- +INCOMPLETE: a run was killed while taking it/);
  const r = kpki(['--root', root, 'renew', 'all', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /removed 1 temp file\(s\) an interrupted run left: \/etc\/kubernetes\/pki\/\.apiserver\.crt\.kpki-deadbeef\.tmp/);
  assert.match(r.stderr, /removed 1 backup\(s\) an interrupted run never finished: 20261201T000000000Z-dead/);
  assert.equal(existsSync(join(root, PKI, '.apiserver.crt.kpki-deadbeef.tmp')), false);
  assert.equal(existsSync(join(root, BACKUPS, '20261201T000000000Z-dead')), false);
});

test('backups prune keeps the newest N (or what is younger than a duration) and never what an interrupted run needs', () => {
  const root = fresh();
  for (let i = 0; i < 4; i++) assert.equal(kpki(['--root', root, 'renew', 'apiserver', '--yes']).status, 0);
  const ids = backupIds(root);
  assert.equal(ids.length, 4);
  assert.equal(kpki(['--root', root, 'backups', 'prune']).status, 2, 'say what to keep');
  assert.match(kpki(['--root', root, 'backups', 'prune', '--older-than', '1d', '--yes']).stdout, /Nothing to remove/);
  const dry = kpki(['--root', root, 'backups', 'prune', '--keep', '1', '--dry-run']);
  assert.equal(dry.status, 0);
  assert.deepEqual(backupIds(root), ids, 'a dry run removes nothing');
  // a killed run whose journal names the oldest backup: that one stays
  writeFileSync(
    join(root, 'var/lib/kpki/journal.json'),
    JSON.stringify({ backupId: ids[0], pid: 1, startedAt: new Date().toISOString(), operation: 'renew' }),
  );
  const r = kpki(['--root', root, 'backups', 'prune', '--keep', '2', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`keeping ${ids[0]}: an interrupted renew rolls back to it`));
  assert.deepEqual(backupIds(root), [ids[0], ids[2], ids[3]]);
});

/** One run that takes the node lock and releases it, asynchronously (so that two of them really run at once). */
function lockedRun(root: string, probe: string, barrier: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [KPKI, '--root', root, 'backups', 'prune', '--keep', '100', '--yes'], {
      stdio: 'ignore',
      env: { ...process.env, KPKI_TEST_LOCK_PROBE: probe, KPKI_TEST_LOCK_BARRIER: barrier },
    });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

test('a stale lock is taken over atomically: 100 pairs of runs started together on a stale lock, never two holders', async () => {
  const root = fresh();
  const probe = join(root, 'lock-probe.log');
  const lock = join(root, 'var/lib/kpki/lock');
  const barrier = join(root, 'lock-barrier');
  mkdirSync(join(root, 'var/lib/kpki'), { recursive: true });
  // a PID that no longer runs, and (every other pair) a PID that runs but is not the holder (another start time)
  const dead = await new Promise<number>((resolve) => {
    const c = spawn('true');
    c.on('exit', () => resolve(c.pid!));
  });
  for (let pair = 0; pair < 100; pair++) {
    const pid = pair % 2 ? dead : process.pid;
    writeFileSync(lock, `${pid}\npid ${pid} on old-host since 2026-01-01T00:00:00.000Z\nstart 1\n`);
    appendFileSync(probe, `0 pair-${pair} ${process.hrtime.bigint()}\n`);
    // both runs wait at the barrier (said in the probe), then go for the stale lock in the same instant
    rmSync(barrier, { force: true });
    const runs = Promise.all([lockedRun(root, probe, barrier), lockedRun(root, probe, barrier)]);
    const ready = () =>
      readFileSync(probe, 'utf8')
        .split(`pair-${pair} `)[1]
        ?.match(/ ready /g)?.length ?? 0;
    for (const until = Date.now() + 30_000; ready() < 2; await new Promise((r) => setTimeout(r, 2)))
      assert.ok(Date.now() < until, `pair ${pair}: the runs never said they wait at the barrier`);
    writeFileSync(barrier, '');
    const codes = await runs;
    assert.ok(codes.every((c) => c === 0 || c === 1) && codes.includes(0), `pair ${pair}: exit codes ${codes}`);
  }
  // the pairs really competed: in many, both runs found the lock stale before either took it (and a takeover guard
  // was found taken), else "never two holders" would hold for runs that simply came one after the other
  const pairs = readFileSync(probe, 'utf8')
    .split(/^0 pair-\d+ \d+$/m)
    .slice(1);
  const contested = pairs.filter((lines) => new Set([...lines.matchAll(/^(\d+) stale /gm)].map((m) => m[1])).size === 2).length;
  const guardBusy = pairs.filter((lines) => / guard-busy /.test(lines)).length;
  console.log(`stale lock: ${contested} of 100 pairs had both runs find it stale, ${guardBusy} found the takeover guard taken`);
  assert.ok(contested >= 10, `only ${contested} of 100 pairs competed for the stale lock`);
  // replay the probe: at no moment two runs hold the lock
  const events = readFileSync(probe, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .filter(([, what]) => what === 'acquired' || what === 'released')
    .map(([pid, what, ns]) => ({ pid, what, ns: BigInt(ns) }));
  events.sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
  let holders = 0;
  let most = 0;
  for (const e of events) {
    holders += e.what === 'acquired' ? 1 : -1;
    most = Math.max(most, holders);
  }
  assert.equal(most, 1, 'two runs held the lock at the same time');
  assert.ok(guardBusy >= 1, 'no run ever found the takeover guard taken');
  assert.ok(events.filter((e) => e.what === 'acquired').length >= 100);
});

test("restoring an older backup and then a newer one never leaves the kubelet's -current link pointing at a removed file", () => {
  const root = fresh();
  for (let i = 0; i < 3; i++) {
    assert.equal(kpki(['--root', root, 'renew', 'kubelet-client', '--yes']).status, 0);
    // (the kubelet names its files by the second)
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);
  }
  const [b1, b2, b3] = backupIds(root);
  for (const id of [b1, b3, b2, b3]) {
    const r = kpki(['--root', root, 'restore', id]);
    assert.equal(r.status, 0, r.stderr);
    assertConsistent(root, `after restore ${id}`);
  }
});
