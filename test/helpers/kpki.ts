// Runs the built CLI as a user would, and hashes trees to prove "every byte as it was".
import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, lstatSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

export const KPKI = join(import.meta.dirname, '..', '..', 'dist', 'kpki.js');

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function kpki(args: string[], env: Record<string, string> = {}): RunResult {
  const result: SpawnSyncReturns<string> = spawnSync(process.execPath, [KPKI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
  return { status: result.status ?? (result.signal ? 128 : 1), stdout: result.stdout, stderr: result.stderr };
}

export function tempRoot(prefix = 'kpki-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeTree(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/** The mode a file holding private key material must have after any kpki write: at most 0600. */
export const keyModesTightened = (data: Buffer, mode: number) =>
  /PRIVATE KEY-----|client-key-data/.test(data.toString('latin1')) ? mode & 0o600 : mode;

/**
 * sha256 over every file (path, mode, bytes) and symlink (path, target) under root, except kpki's own state.
 * `expectMode` hashes a file's mode as it is expected to be (e.g. keyModesTightened), not as it is.
 */
export function hashTree(root: string, exclude = ['var/lib/kpki'], expectMode?: (data: Buffer, mode: number) => number): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const rel = relative(root, path);
      if (exclude.some((e) => rel === e || rel.startsWith(`${e}/`))) continue;
      const st = lstatSync(path);
      if (st.isSymbolicLink()) hash.update(`L ${rel} ${readlinkSync(path)}\n`);
      else if (st.isDirectory()) {
        // directories on the way to kpki's own state (var, var/lib) may be created by it
        if (!exclude.some((e) => e.startsWith(`${rel}/`))) hash.update(`D ${rel} ${(st.mode & 0o7777).toString(8)}\n`);
        walk(path);
      } else if (!st.isFile()) {
        // a FIFO, a device or a socket (adversarial trees): its kind and mode, never its content (a FIFO would block)
        hash.update(`S ${rel} ${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)} ${st.rdev}\n`);
      } else {
        const data = readFileSync(path);
        const mode = expectMode ? expectMode(data, st.mode & 0o7777) : st.mode & 0o7777;
        hash
          .update(`F ${rel} ${mode.toString(8)} `)
          .update(data)
          .update('\n');
      }
    }
  };
  walk(root);
  return hash.digest('hex');
}

/** The CLI without blocking the test process (lab suites: the lab's own timers keep running meanwhile). */
export async function kpkiAsync(args: string[], env: Record<string, string> = {}, timeoutMs = 600_000): Promise<RunResult> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [KPKI, ...args],
      { env: { ...process.env, NO_COLOR: '1', ...env }, timeout: timeoutMs, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ status: code, stdout, stderr });
      },
    );
  });
}

/**
 * Runs the CLI and kills it (SIGKILL, as a crash or a lost operator machine would) as soon as its output matches
 * `when`; its output and how it ended. A run that ends before it matches ends with its own exit code.
 */
export async function kpkiKilledWhen(
  args: string[],
  when: RegExp,
  timeoutMs = 300_000,
): Promise<{ out: string; signal: NodeJS.Signals | null }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [KPKI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  const closed = new Promise((resolve) => child.once('close', resolve));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`never reached ${when}:\n${out}`)), timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (when.test(out) && child.exitCode === null) {
        child.kill('SIGKILL');
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  await closed;
  return { out, signal: child.signalCode };
}
