// The node's filesystem under a root directory: "/" on the node itself, a mount point for a disk repaired elsewhere.
import { KpkiError } from '../errors.js';
import { appendFileSync, constants, existsSync, lstatSync, promises as fs, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ExecResult, FileInfo, followSymlinks, Host, HostLock, LockHeldError, StagedFile, WriteOptions } from './host.js';
import { readRegularFile, readRegularFileAsync } from '../util/read-file.js';
import { writeMode } from './secret-modes.js';

/** Test hook: lets crash tests fill the disk at a chosen write. */
const FAIL_WRITE = process.env.KPKI_TEST_FAIL_WRITE;
/** Test hook: a file whose bytes reach the disk changed once (a disk that lied once): the read-back must catch it. */
let CORRUPT_WRITE = process.env.KPKI_TEST_CORRUPT_WRITE;
/** Test hook: a file whose rename into place fails (after others of its transaction are in place). */
const FAIL_RENAME = process.env.KPKI_TEST_FAIL_RENAME;

export class LocalHost implements Host {
  readonly root: string;
  readonly name: string;

  /**
   * `asyncReads`: reads, stats, listings and link lookups go through the thread pool (a server that must keep
   * answering while a disk hangs: the exporter); otherwise they are synchronous (see readFile).
   */
  constructor(
    root = '/',
    name?: string,
    private readonly options: { asyncReads?: boolean } = {},
  ) {
    this.root = resolve(root);
    this.name = name ?? (this.root === '/' ? hostname() : this.root);
  }

  get live(): boolean {
    return this.root === '/';
  }

  async rename(from: string, to: string): Promise<void> {
    await fs.rename(await this.inRoot(from, false), await this.inRoot(to, false));
  }

  async exec(argv: string[], options: { timeoutMs?: number } = {}): Promise<ExecResult> {
    if (!this.live) throw new Error(`cannot run ${argv[0]} for ${this.root}: a mounted disk is not a running node`);
    const { execFile } = await import('node:child_process'); // loaded when a program runs: check runs none
    return new Promise((resolvePromise) => {
      execFile(argv[0], argv.slice(1), { timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? Number((err as { code: number }).code) : 127) : 0;
        resolvePromise({ code, stdout, stderr: stderr || (err && code === 127 ? err.message : '') });
      });
    });
  }

  /** Where a node path lies on this machine, lexically (for messages; reads and writes use `inRoot`). */
  real(path: string): string {
    const normal = posix.normalize(path.startsWith('/') ? path : `/${path}`);
    return this.root === '/' ? normal : join(this.root, normal);
  }

  describe(path: string): string {
    return this.real(path);
  }

  /**
   * The real path of a node path with every component resolved inside the root, as chroot would: an absolute
   * symlink target is a node path, a relative one may not climb above the root (RootEscapeError). `followLast` false
   * keeps the last component as it is (lstat, rename, remove act on a link itself).
   */
  async inRoot(path: string, followLast = true): Promise<string> {
    const normal = posix.normalize(path.startsWith('/') ? path : `/${path}`);
    if (this.root === '/') return normal;
    return join(this.root, await this.resolveNodePath(normal, followLast));
  }

  /** A node path with its symlinks resolved inside the root, components that do not exist (yet) kept as they are. */
  private async resolveNodePath(path: string, followLast: boolean): Promise<string> {
    const pending = path.split('/').filter(Boolean);
    let resolved = '/';
    for (let hops = 0; pending.length > 0; ) {
      const part = pending.shift()!;
      if (part === '.') continue;
      if (part === '..') {
        if (resolved === '/') throw new RootEscapeError(this.root, path, resolved);
        resolved = posix.dirname(resolved);
        continue;
      }
      const next = posix.join(resolved, part);
      if (pending.length === 0 && !followLast) return next;
      let target: string;
      try {
        // (synchronously: a path is a handful of readlinks of microseconds each; a round trip through the thread
        // pool for each would cost more than the call)
        target = this.options.asyncReads ? await fs.readlink(join(this.root, next)) : readlinkSync(join(this.root, next));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EINVAL' && code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
        resolved = next; // not a symlink (or not there yet: what follows is created under it)
        continue;
      }
      if (++hops > 40) throw Object.assign(new Error(`too many levels of symbolic links at ${this.real(path)}`), { code: 'ELOOP' });
      // the link's target replaces it: absolute from the node's root, relative from the link's directory
      pending.unshift(...target.split('/').filter(Boolean));
      if (target.startsWith('/')) resolved = '/';
    }
    return resolved;
  }

  // Reads are synchronous: a node's PKI is a few dozen files of a few KB, and each read through the thread pool costs
  // more in round trips than the read itself (kpki check is run every few seconds by monitoring). A disk is hostile
  // input: a FIFO, a device or a socket where a certificate should be is refused, never waited on (readRegularFile).
  async readFile(path: string, options: { maxBytes?: number } = {}): Promise<Buffer> {
    const read = this.options.asyncReads ? readRegularFileAsync : readRegularFile;
    return read(await this.inRoot(path), { maxBytes: options.maxBytes, where: this.describe(path) });
  }

  async stat(path: string): Promise<FileInfo | null> {
    try {
      const real = await this.inRoot(path, false);
      const st = this.options.asyncReads ? await fs.lstat(real) : lstatSync(real);
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
      const info: FileInfo = { type, mode: st.mode & 0o7777, rawMode: st.mode, uid: st.uid, gid: st.gid, size: st.size };
      if (type === 'symlink') info.linkTarget = this.options.asyncReads ? await fs.readlink(real) : readlinkSync(real);
      return info;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw err;
    }
  }

  /** Follows symlinks inside the node's root: an absolute link target is a node path, not a path on this machine. */
  async resolve(path: string): Promise<string> {
    if (this.root === '/') return followSymlinks(this, path);
    return this.resolveNodePath(posix.normalize(path.startsWith('/') ? path : `/${path}`), true);
  }

  async list(dir: string): Promise<string[]> {
    try {
      const real = await this.inRoot(dir);
      return (this.options.asyncReads ? await fs.readdir(real) : readdirSync(real)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
      throw err;
    }
  }

  async mkdirp(dir: string, mode: number): Promise<void> {
    await fs.mkdir(await this.inRoot(dir), { recursive: true, mode });
  }

  async writeFileAtomic(path: string, data: Buffer | string, asked: WriteOptions): Promise<void> {
    await (await this.stageFile(path, data, asked)).commit();
    await this.syncDirs([posix.dirname(path)]);
  }

  async syncDirs(dirs: string[]): Promise<void> {
    await Promise.all(dirs.map(async (dir) => syncDir(await this.inRoot(dir))));
  }

  async stageFile(path: string, data: Buffer | string, asked: WriteOptions): Promise<StagedFile> {
    const options = { ...asked, mode: writeMode(data, asked.mode) };
    const target = await this.inRoot(path, false);
    const temp = join(dirname(target), `.${posix.basename(path)}.kpki-${randomBytes(4).toString('hex')}.tmp`);
    if (FAIL_WRITE && path.endsWith(FAIL_WRITE) && !path.startsWith('/var/lib/kpki/')) {
      throw Object.assign(new Error(`ENOSPC: no space left on device, write '${temp}'`), { code: 'ENOSPC' });
    }
    const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, options.mode);
    try {
      const corrupt = CORRUPT_WRITE && path.endsWith(CORRUPT_WRITE) && !path.startsWith('/var/lib/kpki/');
      if (corrupt) CORRUPT_WRITE = undefined;
      await handle.writeFile(corrupt ? corrupted(data) : data);
      await handle.chmod(options.mode);
      if (options.uid !== undefined && options.gid !== undefined && process.getuid?.() === 0) {
        await handle.chown(options.uid, options.gid);
      }
      await handle.sync();
    } catch (err) {
      await handle.close();
      await fs.rm(temp, { force: true });
      throw err;
    }
    await handle.close();
    const discard = () => fs.rm(temp, { force: true });
    return {
      discard,
      commit: async () => {
        try {
          if (FAIL_RENAME && path.endsWith(FAIL_RENAME) && !path.startsWith('/var/lib/kpki/'))
            throw Object.assign(new Error(`EIO: i/o error, rename '${temp}'`), { code: 'EIO' });
          await fs.rename(temp, target);
        } catch (err) {
          await discard();
          throw err;
        }
      },
    };
  }

  async symlinkAtomic(path: string, target: string): Promise<void> {
    const link = await this.inRoot(path, false);
    const temp = join(dirname(link), `.${posix.basename(path)}.kpki-${randomBytes(4).toString('hex')}.tmp`);
    await fs.symlink(target, temp);
    await fs.rename(temp, link);
    await syncDir(dirname(link));
  }

  async remove(path: string): Promise<void> {
    await fs.rm(await this.inRoot(path, false), { force: true, recursive: true });
  }

  /**
   * The node lock: a file that appears whole (a complete temp file hard-linked into place: link(2) fails if the
   * lock exists), naming this process and its start time. A lock whose holder is gone (or whose PID now belongs to
   * another process: the start time differs) is stale; taking it over happens under a second lock, "<lock>.takeover",
   * made the same way, and removes the lock only if it is still the same stale one, so two runs that both find it
   * stale never both end up holding it. No reader ever sees a lock or guard half written (an empty file would look
   * stale).
   */
  async lock(path: string): Promise<HostLock> {
    const real = await this.inRoot(path, false);
    await fs.mkdir(dirname(real), { recursive: true, mode: 0o700 });
    const me = `${process.pid}\npid ${process.pid} on ${hostname()} since ${new Date().toISOString()}\nstart ${processStart(process.pid) ?? '?'}\n`;
    const deadline = Date.now() + 3000;
    lockBarrier();
    for (;;) {
      if (await createWhole(real, me)) {
        lockProbe('acquired');
        return { release: () => releaseIfMine(real, me) };
      }
      const held = await fs.readFile(real, 'utf8').catch(() => undefined);
      if (held === undefined) continue; // released meanwhile
      if (holderAlive(held)) throw new LockHeldError(real, held.split('\n')[1] ?? `pid ${held.split('\n')[0]}`);
      lockProbe('stale');
      if (!(await takeOverStale(real, held))) {
        if (Date.now() > deadline) throw new LockHeldError(real, 'another run is taking over a stale lock');
        await new Promise((r) => setTimeout(r, 10 + Math.random() * 20));
      }
    }
  }
}

/** The data with one byte changed (KPKI_TEST_CORRUPT_WRITE). */
function corrupted(data: Buffer | string): Buffer {
  const bytes = Buffer.from(data);
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  return bytes;
}

/** Creates `path` holding `content`, atomically and only if it does not exist; false if it exists. */
async function createWhole(path: string, content: string): Promise<boolean> {
  for (;;) {
    const temp = join(dirname(path), `.${posix.basename(path)}.kpki-${randomBytes(4).toString('hex')}.tmp`);
    await fs.writeFile(temp, content, { flag: 'wx', mode: 0o600 });
    try {
      await fs.link(temp, path);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code === 'ENOENT') continue; // the lock holder's leftover cleanup took the temp file: write it again
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
      // a filesystem without hard links: an exclusive create (a reader may see it empty for a moment)
      try {
        await fs.writeFile(path, content, { flag: 'wx', mode: 0o600 });
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw e;
      }
    } finally {
      await fs.rm(temp, { force: true });
    }
  }
}

/**
 * Removes `path` only if it still holds `expected`: it is renamed aside first (atomic), so what is judged is what
 * is removed; a file that changed meanwhile (another run's) is put back.
 */
async function removeIfStill(path: string, expected: string): Promise<boolean> {
  const aside = join(dirname(path), `.${posix.basename(path)}.kpki-${randomBytes(4).toString('hex')}.tmp`);
  try {
    await fs.rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  const text = await fs.readFile(aside, 'utf8').catch(() => undefined);
  if (text !== expected) await fs.link(aside, path).catch(() => undefined);
  await fs.rm(aside, { force: true });
  return text === expected;
}

/** Removes a stale lock if it still is exactly `stale`, holding `<lock>.takeover`; false when another run holds that. */
async function takeOverStale(real: string, stale: string): Promise<boolean> {
  const guard = `${real}.takeover`;
  const mine = `${process.pid}\npid ${process.pid}\nstart ${processStart(process.pid) ?? '?'}\n`;
  if (!(await createWhole(guard, mine))) {
    lockProbe('guard-busy');
    // a guard whose holder was killed in the moment it held it is stale too
    const holder = await fs.readFile(guard, 'utf8').catch(() => undefined);
    if (holder !== undefined && !holderAlive(holder)) await removeIfStill(guard, holder);
    return false;
  }
  try {
    // (read first: renaming a live lock aside, even for a moment, would let a third run in)
    if ((await fs.readFile(real, 'utf8').catch(() => undefined)) === stale) await removeIfStill(real, stale);
    return true;
  } finally {
    await removeIfStill(guard, mine);
  }
}

async function releaseIfMine(real: string, me: string): Promise<void> {
  lockProbe('released');
  await removeIfStill(real, me);
}

/**
 * Test hook: appends "<pid> acquired|released|stale|guard-busy <ns>" to a file, to prove no two runs hold the lock at
 * once, and that runs really competed for a stale lock (both found it stale; one found the takeover guard taken).
 */
function lockProbe(what: string): void {
  const file = process.env.KPKI_TEST_LOCK_PROBE;
  if (file) appendFileSync(file, `${process.pid} ${what} ${process.hrtime.bigint()}\n`);
}

/**
 * Test hook: runs that are to compete for the lock wait here until a file appears (KPKI_TEST_LOCK_BARRIER), saying
 * they are ready in the probe, so that they reach the lock in the same instant rather than a process start apart.
 */
function lockBarrier(): void {
  const barrier = process.env.KPKI_TEST_LOCK_BARRIER;
  if (!barrier) return;
  lockProbe('ready');
  const tick = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; !existsSync(barrier) && waited < 30_000; waited++) Atomics.wait(tick, 0, 0, 1);
}

/** The process's start time in clock ticks since boot (/proc/PID/stat field 22): tells a reused PID from the holder. */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The lock's holder still runs: its PID is alive and, where recorded, started when the lock says. */
function holderAlive(lockText: string): boolean {
  const [pidLine, , startLine] = lockText.split('\n');
  const pid = Number(pidLine);
  if (!(pid > 0) || !isAlive(pid)) return false;
  const recorded = /^start (\d+)$/.exec(startLine ?? '')?.[1];
  const now = processStart(pid);
  return !recorded || !now || recorded === now;
}

/** A path that, through its symlinks, would lead out of the node's root (`--root`): never followed. */
export class RootEscapeError extends KpkiError {
  readonly code = 'EROOTESCAPE';
  constructor(root: string, path: string, at: string) {
    super(`${join(root, path)} leads out of the node's root ${root} (at ${join(root, at)}): kpki does not follow it`);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
