// The lab's stand-in for systemd running a service (etcd.service on a Kubespray-style node): reads the unit's
// ExecStart and EnvironmentFile, runs the program with that environment, restarts it when it exits (Restart=always,
// RestartSec shortened to 1 s), and serves `systemctl restart <unit>` from the lab's systemctl (setup.ts): a request
// file holding a token; the process is stopped (SIGTERM, SIGKILL after 10 s), started again, and once it listens (as
// Type=notify waits for etcd's READY) the token is written back, which is when systemctl returns, as the real one does.
import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { parseEnvironmentFile } from '../../src/util/env-file.js';
import { log } from './flags.js';

/** Where the lab's systemctl leaves a restart request and waits for its answer (a node path: /run/systemd is the node's own). */
export const unitRequest = (unit: string) => `/run/systemd/kpki-lab-restart-${unit}`;
export const unitAnswer = (unit: string) => `/run/systemd/kpki-lab-restarted-${unit}`;

/** Programs the lab runs for a unit's ExecStart (Kubespray installs etcd in /usr/local/bin; Debian's is in /usr/bin). */
const PROGRAMS: Record<string, string> = { etcd: '/usr/bin/etcd' };

export interface UnitStatus {
  unit: string;
  pid?: number;
  restarts: number;
  lastRestart?: string;
}

export class Unit {
  private child?: ChildProcess;
  private stopping = false;
  private restarts = 0;
  private lastRestart?: string;
  private timer?: NodeJS.Timeout;
  private busy = false;

  constructor(
    private readonly unit: string,
    private readonly logDir: string,
    /** Address and port that answer once the service is ready. */
    private readonly ready: () => { host: string; port: number } | undefined,
  ) {}

  start(): void {
    this.spawn();
    this.timer = setInterval(() => void this.restartIfAsked(), 200);
  }

  status(): UnitStatus {
    return { unit: this.unit, pid: this.child?.pid, restarts: this.restarts, lastRestart: this.lastRestart };
  }

  private command(): { argv: string[]; env: Record<string, string> } {
    const text = readFileSync(`/etc/systemd/system/${this.unit}.service`, 'utf8');
    const exec = /^\s*ExecStart\s*=\s*(.+)$/m.exec(text)?.[1].trim().split(/\s+/) ?? [];
    const envFile = /^\s*EnvironmentFile\s*=\s*-?(\S+)/m.exec(text)?.[1];
    const env = envFile && existsSync(envFile) ? Object.fromEntries(parseEnvironmentFile(readFileSync(envFile, 'utf8'))) : {};
    const [program, ...args] = exec;
    const base = program?.split('/').pop() ?? '';
    return { argv: [PROGRAMS[base] ?? program, ...args], env };
  }

  private spawn(): void {
    if (this.stopping) return;
    const { argv, env } = this.command();
    const out = openSync(join(this.logDir, `${this.unit}.service.log`), 'a');
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ['ignore', out, out],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    });
    closeSync(out);
    this.child = child;
    log('systemd', `started ${this.unit}.service (pid ${child.pid})`);
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopping || this.busy) return;
      log('systemd', `${this.unit}.service exited (code ${code}, signal ${signal}); restarting in 1 s`);
      setTimeout(() => !this.child && this.spawn(), 1000);
    });
  }

  private stopChild(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  private async listening(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const target = this.ready();
      if (!target) return true;
      const ok = await new Promise<boolean>((resolve) => {
        const socket = net.connect({ ...target, timeout: 500 });
        socket.once('connect', () => (socket.destroy(), resolve(true)));
        socket.once('timeout', () => (socket.destroy(), resolve(false)));
        socket.once('error', () => resolve(false));
      });
      if (ok) return true;
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  }

  private async restartIfAsked(): Promise<void> {
    const request = unitRequest(this.unit);
    if (this.stopping || this.busy || !existsSync(request)) return;
    this.busy = true;
    try {
      const token = readFileSync(request, 'utf8').trim();
      renameSync(request, `${request}.taken`);
      log('systemd', `restarting ${this.unit}.service (systemctl restart)`);
      await this.stopChild();
      this.restarts++;
      this.lastRestart = new Date().toISOString();
      this.spawn();
      const up = await this.listening(60_000);
      writeFileSync(unitAnswer(this.unit), up ? token : `failed ${token}`);
    } finally {
      this.busy = false;
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.stopChild();
  }
}
