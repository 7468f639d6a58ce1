// libuv's thread pool does Node's file I/O and its key generation alike, 4 threads unless UV_THREADPOOL_SIZE says
// otherwise. kpki makes keys at most pool - 2 at once (pki/keys.ts), so that the disk has threads meanwhile: a renewal
// backs up its files while its keys are made. Here the pool is made two threads larger than Node's usual 4 (or than the
// cores, on a larger machine), so the keys still get all the cores and at least four at once (fewer leave a core idle
// while the last ones finish). The pool starts at its first use, so this runs first thing.
import { availableParallelism } from 'node:os';

export function roomForIoBesideKeys(): void {
  process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism()) + 2);
}
