// Processes the tests start: tracked by PID, stopped by PID (TERM, then KILL), never by name.
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

export const execFileAsync = promisify(execFile);

const running = new Set<ChildProcess>();

export function startTracked(command: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  running.add(child);
  let log = '';
  child.stdout?.on('data', (d) => (log = (log + d).slice(-20000)));
  child.stderr?.on('data', (d) => (log = (log + d).slice(-20000)));
  Object.defineProperty(child, 'log', { get: () => log });
  child.on('exit', () => running.delete(child));
  return child;
}

export async function stopTracked(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((c) => stopTracked(c)));
}

export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}
