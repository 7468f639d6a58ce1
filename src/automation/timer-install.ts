// Installing, removing and reading the renewal timer on one node (local, a mounted disk, or over SSH): the unit files
// written with a backup, the kpki binary copied when asked, and systemd told: `systemctl enable --now` on a running
// node, `systemctl --root=DIR enable` on a mounted disk, a note where systemd does not run.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { Host } from '../hosts/host.js';
import { withNodeLock, applyWrites } from '../node/txn/index.js';
import { createBackup } from '../node/txn/index.js';
import { readTimerState } from './timer-state.js';
import { SERVICE_UNIT, TIMER_UNIT, TimerOptions, timerWrites, UNIT_DIR } from './timer-units.js';
import type { TimerState } from './timer-state.js';
import type { FileWrite } from '../node/renew/index.js';

const WANTS = posix.join(UNIT_DIR, 'timers.target.wants', TIMER_UNIT);

/** How systemd is reached on this host: its own systemctl (running node), --root (a disk), or not at all. */
async function systemctl(host: Host, args: string[]): Promise<string> {
  if (!host.live) {
    // a disk: no running systemd to reload or start; enable/disable only lay the symlinks
    if (args[0] === 'daemon-reload') return 'a mounted disk: systemd reads the units when the node boots';
    const root = host.describe('/');
    const r = spawnSync('systemctl', [`--root=${root}`, ...args.filter((a) => a !== '--now')], { encoding: 'utf8' });
    if (r.error) return `systemctl is not available here: run systemctl ${args.join(' ')} on the node`;
    if (r.status !== 0) throw new Error(`systemctl --root=${root} ${args.join(' ')}: ${(r.stderr || r.stdout).trim()}`);
    return `systemctl --root=${root} ${args.filter((a) => a !== '--now').join(' ')}: done`;
  }
  if (!(await host.stat('/run/systemd/system')))
    return `systemd is not running on ${host.name}: run systemctl ${args.join(' ')} there once it does`;
  const r = await host.exec(['systemctl', ...args], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`systemctl ${args.join(' ')} on ${host.name}: ${(r.stderr || r.stdout).trim()}`);
  return `systemctl ${args.join(' ')}: done`;
}

export interface InstallResult {
  written: string[];
  backup: string;
  systemd: string[];
}

export async function installTimer(host: Host, o: TimerOptions, copyBinary?: string): Promise<InstallResult> {
  const writes: FileWrite[] = timerWrites(o);
  if (copyBinary) {
    const target = o.binary.split(' ')[0];
    // the standalone executable, byte for byte (written like any other file: backup, temp, fsync, rename)
    writes.push({ kind: 'file', path: target, data: readFileSync(copyBinary), mode: 0o755, entry: target, format: 'binary' });
  }
  return await withNodeLock(host, async () => {
    await host.mkdirp(UNIT_DIR, 0o755);
    const { backup } = await applyWrites(host, writes, 'timer install');
    const systemd = [await systemctl(host, ['daemon-reload']), await systemctl(host, ['enable', '--now', TIMER_UNIT])];
    return { written: writes.map((w) => w.path), backup: backup.id, systemd };
  });
}

export async function removeTimer(host: Host): Promise<{ removed: string[]; backup?: string; systemd: string[] }> {
  const paths = [posix.join(UNIT_DIR, SERVICE_UNIT), posix.join(UNIT_DIR, TIMER_UNIT)];
  const present: string[] = [];
  for (const p of paths) if (await host.stat(p)) present.push(p);
  if (present.length === 0) return { removed: [], systemd: [] };
  return await withNodeLock(host, async () => {
    const systemd = [await systemctl(host, ['disable', '--now', TIMER_UNIT])];
    const backup = await createBackup(host, [...present, WANTS], 'timer remove');
    for (const p of present) await host.remove(p);
    if (await host.stat(WANTS)) await host.remove(WANTS);
    systemd.push(await systemctl(host, ['daemon-reload']));
    return { removed: present, backup: backup.id, systemd };
  });
}

export interface TimerStatus {
  installed: boolean;
  enabled: boolean;
  onCalendar?: string;
  execStart?: string;
  state?: TimerState;
}

export async function timerStatus(host: Host): Promise<TimerStatus> {
  const timerPath = posix.join(UNIT_DIR, TIMER_UNIT);
  const servicePath = posix.join(UNIT_DIR, SERVICE_UNIT);
  const installed = Boolean((await host.stat(timerPath)) && (await host.stat(servicePath)));
  const status: TimerStatus = { installed, enabled: Boolean(await host.stat(WANTS)), state: await readTimerState(host) };
  if (installed) {
    status.onCalendar = /^OnCalendar=(.*)$/m.exec((await host.readFile(timerPath)).toString())?.[1];
    status.execStart = /^ExecStart=(.*)$/m.exec((await host.readFile(servicePath)).toString())?.[1];
  }
  return status;
}
