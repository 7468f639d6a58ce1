// kpki timer install / status / remove on a mounted node disk (--root): the units systemd itself accepts
// (`systemd-analyze verify`, any stderr is a failure; `systemd-analyze calendar`), enabled with `systemctl --root`
// (systemd does not run here), backups taken, a window too short for the calendar refused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { kpki, KPKI, removeTree, tempRoot, hashTree } from '../helpers/kpki.js';
import { have } from '../helpers/lab-tools.js';

const roots: string[] = [];
after(() => roots.forEach(removeTree));
const skip = !have('systemd-analyze') || !have('systemctl') ? 'systemd-analyze and systemctl are needed (Debian systemd)' : false;
const unitDir = (root: string) => join(root, 'etc/systemd/system');

test('timer install writes units systemd accepts, enables the timer, and status tells; remove undoes it', { skip }, () => {
  const root = tempRoot();
  roots.push(root);
  // the units name an executable that exists here, as the standalone binary would on a node
  const r = kpki([
    '--root',
    root,
    'timer',
    'install',
    '--yes',
    '--on-calendar',
    'Sun *-*-* 02:30:00',
    '--binary',
    `${process.execPath} ${KPKI}`,
  ]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /Runs Sun \*-\*-\* 02:30:00; next .*Window 30d: a certificate is renewed at least 23 days before it expires, even after a missed run/,
  );
  const service = join(unitDir(root), 'kpki-renew.service');
  const timer = join(unitDir(root), 'kpki-renew.timer');
  const verify = spawnSync('systemd-analyze', ['verify', '--man=no', service, timer], { encoding: 'utf8' });
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'systemd-analyze verify has nothing to say');
  const text = readFileSync(timer, 'utf8');
  const calendar = /^OnCalendar=(.*)$/m.exec(text)![1];
  assert.equal(spawnSync('systemd-analyze', ['calendar', calendar]).status, 0);
  assert.match(text, /^Persistent=true$/m);
  assert.match(readFileSync(service, 'utf8'), /^ExecStart=\S+ \S+kpki\.js timer run --renew-within 30d --max-wait 45m --spacing 15m$/m);
  assert.match(readFileSync(service, 'utf8'), /^TimeoutStartSec=75m$/m);
  assert.equal(readlinkSync(join(unitDir(root), 'timers.target.wants/kpki-renew.timer')), '/etc/systemd/system/kpki-renew.timer');
  const status = kpki(['--root', root, 'timer', 'status', '-o', 'json']);
  const [s] = JSON.parse(status.stdout);
  assert.deepEqual([s.installed, s.enabled, s.onCalendar], [true, true, 'Sun *-*-* 02:30:00']);
  assert.match(s.next, /T02:30:00\.000Z$/);
  assert.equal(status.status, 0);
  const removed = kpki(['--root', root, 'timer', 'remove']);
  assert.equal(removed.status, 0, removed.stderr);
  assert.equal(existsSync(service) || existsSync(timer) || existsSync(join(unitDir(root), 'timers.target.wants/kpki-renew.timer')), false);
  assert.match(removed.stdout, /removed .*kpki-renew\.service, .*kpki-renew\.timer \(backup \S+\)/);
  assert.equal(kpki(['--root', root, 'timer', 'status']).status, 1, 'not installed');
});

test('timer install refuses a window a missed run would outlast, and a calendar systemd rejects, changing nothing', { skip }, () => {
  const root = tempRoot();
  roots.push(root);
  const before = hashTree(root);
  const short = kpki(['--root', root, 'timer', 'install', '--yes', '--renew-within', '10d']);
  assert.equal(short.status, 2);
  assert.match(short.stderr, /--renew-within 10d is too short for "Mon \*-\*-\* 03:00:00" \(a run every 7d\).*Use at least 15d/);
  const bad = kpki(['--root', root, 'timer', 'install', '--yes', '--on-calendar', 'every monday']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--on-calendar: "every monday" is not a systemd calendar expression/);
  assert.equal(hashTree(root), before);
  const dry = kpki(['--root', root, 'timer', 'install', '--dry-run', '--on-calendar', 'daily', '--renew-within', '7d']);
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /^OnCalendar=\*-\*-\* 00:00:00$/m);
  assert.equal(hashTree(root), before, 'a dry run writes nothing');
});
