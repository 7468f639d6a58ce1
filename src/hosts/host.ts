// One interface for all node I/O. Paths are node paths ("/etc/kubernetes/pki/ca.crt"); implementations map them.
import { KpkiError } from '../errors.js';
import { posix } from 'node:path';
import type { Duplex } from 'node:stream';

export interface FileInfo {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  /** The whole st_mode, file type bits included (to name what a non-regular file is). */
  rawMode?: number;
  uid: number;
  gid: number;
  size: number;
  /** For symlinks: the link text. */
  linkTarget?: string;
}

export interface WriteOptions {
  mode: number;
  uid?: number;
  gid?: number;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A file's new content, written and flushed beside it under a temp name, not yet in place. */
export interface StagedFile {
  /** Renames it over the target (atomic). The rename is durable once the directory is synced (Host.syncDirs). */
  commit(): Promise<void>;
  /** Removes the temp file (when a transaction gives up before committing it). */
  discard(): Promise<void>;
}

export interface HostLock {
  release(): Promise<void>;
}

export interface Host {
  /** Human name of the node, used in messages. */
  readonly name: string;
  /** Where a node path really is, for messages ("/mnt/node1/etc/kubernetes/pki/ca.crt"). */
  describe(path: string): string;
  /**
   * A whole file; larger than `maxBytes` (default MAX_READ_BYTES) is an error (E2BIG) naming the file, nothing is read.
   * Callers that know a file is large (a backup of kpki's own executable, a read-back) give its size.
   */
  readFile(path: string, options?: { maxBytes?: number }): Promise<Buffer>;
  /** lstat: does not follow symlinks. Null when the path does not exist. */
  stat(path: string): Promise<FileInfo | null>;
  /** Resolves a symlink chain to a node path. */
  resolve(path: string): Promise<string>;
  list(dir: string): Promise<string[]>;
  mkdirp(dir: string, mode: number): Promise<void>;
  /**
   * Temp file in the same directory, fsync, rename over the target, fsync the directory. Data holding a private key
   * is written at most 0600 (secret-modes.ts), whatever mode is asked.
   */
  writeFileAtomic(path: string, data: Buffer | string, options: WriteOptions): Promise<void>;
  /**
   * writeFileAtomic's first half: the temp file written and fsynced, and its commit (the rename) for later. A
   * transaction stages all its files at once (the fsyncs overlap), then commits them in its own order.
   */
  stageFile(path: string, data: Buffer | string, options: WriteOptions): Promise<StagedFile>;
  /** fsync of directories: makes the renames committed in them durable (once per directory, after a transaction's). */
  syncDirs(dirs: string[]): Promise<void>;
  /** Replaces (or creates) a symlink atomically. */
  symlinkAtomic(path: string, target: string): Promise<void>;
  remove(path: string): Promise<void>;
  /** Renames within the node (same filesystem: atomic). */
  rename(from: string, to: string): Promise<void>;
  /**
   * Runs a program on the node (no shell). Only where kpki acts on a live node: a host for a mounted disk (--root)
   * refuses, since its programs and services are not the node's.
   */
  exec(argv: string[], options?: { timeoutMs?: number }): Promise<ExecResult>;
  /** True when this host is a live node: programs can run there and its services are reachable. */
  readonly live: boolean;
  /**
   * A TCP connection opened from the node (an SSH tunnel). Absent where kpki runs on the node: probes of the node's
   * 127.0.0.1 and its other addresses are then made directly.
   */
  connectTcp?(address: string, port: number): Promise<Duplex>;
  /** An exclusive lock held by this process; fails with LockHeldError when another live process holds it. */
  lock(path: string): Promise<HostLock>;
}

// (what a node file may be: a regular file within the bound; shared with the files kpki reads on the operator's side)
export { MAX_READ_BYTES, notRegular, tooLarge } from '../util/read-file.js';

export class LockHeldError extends KpkiError {
  constructor(
    readonly path: string,
    readonly holder: string,
  ) {
    super(`another kpki run holds the lock ${path} (${holder})`);
  }
}

/** Follows a symlink chain with the host's own lstat: an absolute link target is a node path, not a local one. */
export async function followSymlinks(host: Pick<Host, 'stat' | 'describe'>, path: string): Promise<string> {
  return (await followSymlinksInfo(host, path)).path;
}

/** followSymlinks, with what the chain ends at (null: nothing there), as its last lstat saw it. */
export async function followSymlinksInfo(
  host: Pick<Host, 'stat' | 'describe'>,
  path: string,
): Promise<{ path: string; info: FileInfo | null }> {
  let current = posix.normalize(path);
  for (let hops = 0; hops < 16; hops++) {
    const info = await host.stat(current);
    if (!info || info.type !== 'symlink') return { path: current, info };
    const target = info.linkTarget ?? '';
    current = target.startsWith('/') ? posix.normalize(target) : posix.join(posix.dirname(current), target);
  }
  throw Object.assign(new Error(`too many levels of symbolic links at ${host.describe(path)}`), { code: 'ELOOP' });
}
