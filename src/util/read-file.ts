// Reading a file kpki did not write (a node's disk, a request directory, an inventory) as hostile input: a regular
// file or refused, opened without blocking (a FIFO would wait for a writer for ever), and never more than a bound
// (a device's size says 0 and /dev/zero never ends).
import { closeSync, constants, fstatSync, lstatSync, openSync, promises as fsp, readSync, Stats } from 'node:fs';

/** What kpki reads is certificates, keys, kubeconfigs, manifests, inventories and its own state: a few KB each. */
export const MAX_READ_BYTES = 4 << 20;

export function tooLarge(where: string, size: number | string): Error {
  return Object.assign(
    new Error(
      `${where} is ${size} bytes: kpki reads files of at most ${MAX_READ_BYTES >> 20} MiB (a certificate, key or kubeconfig is a few KB)`,
    ),
    { code: 'E2BIG' },
  );
}

/** What a file that is not a regular file is, in words ("a FIFO"), from its stat's mode bits. */
export function fileTypeName(mode: number): string {
  switch (mode & constants.S_IFMT) {
    case constants.S_IFDIR:
      return 'a directory';
    case constants.S_IFIFO:
      return 'a FIFO (named pipe)';
    case constants.S_IFCHR:
      return 'a character device';
    case constants.S_IFBLK:
      return 'a block device';
    case constants.S_IFSOCK:
      return 'a socket';
    case constants.S_IFLNK:
      return 'a symbolic link';
    default:
      return 'not a regular file';
  }
}

/** The refusal of a file that is not a regular file (code EISDIR for a directory, ENOTREG otherwise). */
export function notRegular(where: string, mode: number): Error {
  const isDir = (mode & constants.S_IFMT) === constants.S_IFDIR;
  return Object.assign(new Error(`${where} is ${fileTypeName(mode)}, not a regular file: kpki reads regular files only`), {
    code: isDir ? 'EISDIR' : 'ENOTREG',
  });
}

export const isRegularMode = (mode: number): boolean => (mode & constants.S_IFMT) === constants.S_IFREG;

/** Without blocking (a FIFO with no writer), never becoming a controlling terminal (a tty where a file should be). */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** open(2), whose ENXIO (a socket cannot be opened) becomes the refusal that names what the file is. */
function openOrName<T>(open: () => T, path: string, where: string): T {
  try {
    return open();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
    throw notRegular(where, lstatSync(path).mode);
  }
}

/**
 * A whole regular file of this machine, at most `maxBytes`: the size is checked before reading and again while
 * reading (a file that grows, or whose size lies, stops at the bound). `where` names it in errors.
 */
export function readRegularFile(path: string, o: { maxBytes?: number; where?: string } = {}): Buffer {
  const where = o.where ?? path;
  const maxBytes = o.maxBytes ?? MAX_READ_BYTES;
  const fd = openOrName(() => openSync(path, OPEN_FLAGS), path, where);
  try {
    const st: Stats = fstatSync(fd);
    if (!st.isFile()) throw notRegular(where, st.mode);
    if (st.size > maxBytes) throw tooLarge(where, st.size);
    return readUpTo(fd, st.size, maxBytes, where);
  } finally {
    closeSync(fd);
  }
}

/** Reads until end of file, refusing past `maxBytes` (a size that lies: /proc files say 0, a file may grow). */
function readUpTo(fd: number, sizeHint: number, maxBytes: number, where: string): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.max(4096, Math.min(sizeHint - total + 1, maxBytes - total + 1)));
    const got = readSync(fd, chunk, 0, chunk.length, null);
    if (got === 0) break;
    total += got;
    if (total > maxBytes) throw tooLarge(where, `more than ${maxBytes}`);
    chunks.push(chunk.subarray(0, got));
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
}

/** readRegularFile as text. */
export const readRegularText = (path: string, o: { maxBytes?: number; where?: string } = {}): string =>
  readRegularFile(path, o).toString('utf8');

/** Test hook: a read of a file whose path ends so never completes (a read hung in the kernel, as on a dead NFS mount). */
const STUCK_READ = process.env.KPKI_TEST_STUCK_READ;

/**
 * readRegularFile through the thread pool: a read that hangs in the kernel (a dead NFS server, a failing disk) holds
 * one pool thread, never the event loop, so a server that reads (the exporter) keeps answering and can time it out.
 */
export async function readRegularFileAsync(path: string, o: { maxBytes?: number; where?: string } = {}): Promise<Buffer> {
  const where = o.where ?? path;
  const maxBytes = o.maxBytes ?? MAX_READ_BYTES;
  const handle = await fsp.open(path, OPEN_FLAGS).catch((err) =>
    openOrName(
      () => {
        throw err;
      },
      path,
      where,
    ),
  );
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw notRegular(where, st.mode);
    if (st.size > maxBytes) throw tooLarge(where, st.size);
    if (STUCK_READ && path.endsWith(STUCK_READ)) await new Promise(() => undefined);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.max(4096, Math.min(st.size - total + 1, maxBytes - total + 1)));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw tooLarge(where, `more than ${maxBytes}`);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total);
  } finally {
    await handle.close();
  }
}
