// Backups under /var/lib/kpki/backups/<id>/ on the node: the bytes, modes and owners of every file a run will touch,
// with a manifest written last (a backup without a manifest never completed and is ignored).
import { createHash, randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { Host } from '../../hosts/host.js';
import { KpkiError, remedy } from '../../errors.js';
import { writeMode } from '../../hosts/secret-modes.js';
import type { FileWrite } from '../renew/index.js';
import { mapLimit } from '../../util/parallel.js';

/** Files copied at once (see util/parallel.ts). */
const COPY_AT_ONCE = 8;

export const STATE_DIR = '/var/lib/kpki';
export const BACKUP_DIR = `${STATE_DIR}/backups`;

export interface BackupFile {
  path: string;
  type: 'file' | 'symlink' | 'absent';
  sha256?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  linkTarget?: string;
}

export interface BackupManifest {
  id: string;
  createdAt: string;
  node: string;
  reason: string;
  files: BackupFile[];
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

export function newBackupId(now = new Date()): string {
  return `${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.(\d+)Z$/, '$1Z')}-${randomBytes(2).toString('hex')}`;
}

function storedPath(id: string, path: string): string {
  return posix.join(BACKUP_DIR, id, 'files', path);
}

export async function createBackup(host: Host, paths: string[], reason: string): Promise<BackupManifest> {
  const backup = new BackupInProgress(host, reason);
  await backup.add(paths);
  return backup.finish();
}

/**
 * A backup being taken: files are copied as their paths become known (a renewal backs up what its plan names while
 * its keys are made), and the backup counts once finish() writes the manifest.
 */
export class BackupInProgress {
  readonly id = newBackupId();
  private readonly stored: BackupFile[] = [];
  /** add() calls run one after another, in the order they were made */
  private done: Promise<void>;
  /** the first thing that went wrong: finish() throws it, so a backup that lacks a file never gets its manifest */
  private failure: unknown;

  constructor(
    private readonly host: Host,
    private readonly reason: string,
  ) {
    this.done = this.settled(async () => {
      await host.mkdirp(STATE_DIR, 0o700);
      await host.mkdirp(posix.join(BACKUP_DIR, this.id), 0o700);
    });
  }

  /** Copies the paths not yet in the backup (a symlink brings the file it points at along). Never rejects: a failure
   * is kept for finish(), so a caller may begin copying early and go on with other work. */
  add(paths: string[]): Promise<void> {
    this.done = this.done.then(() => (this.failure === undefined ? this.settled(() => this.copy(paths)) : undefined));
    return this.done;
  }

  async finish(): Promise<BackupManifest> {
    await this.done;
    if (this.failure !== undefined) throw this.failure;
    const manifest: BackupManifest = {
      id: this.id,
      createdAt: new Date().toISOString(),
      node: this.host.name,
      reason: this.reason,
      files: [...this.stored],
    };
    await this.host.writeFileAtomic(posix.join(BACKUP_DIR, this.id, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, {
      mode: 0o600,
    });
    return manifest;
  }

  /** Removes what was copied (a run that stops before writing anything): no backup without a manifest is left. */
  async abandon(): Promise<void> {
    await this.done;
    await this.host.remove(posix.join(BACKUP_DIR, this.id));
  }

  private settled(work: () => Promise<void>): Promise<void> {
    return work().catch((err: unknown) => {
      this.failure ??= err;
    });
  }

  private async copy(asked: string[]): Promise<void> {
    const host = this.host;
    const known = new Set(this.stored.map((f) => f.path));
    const queue = [...new Set(asked)].filter((p) => !known.has(p));
    // what each path is, then every file's copy at once: their fsyncs overlap
    const found = await mapLimit(queue, COPY_AT_ONCE, async (path) => {
      const info = await host.stat(path);
      const resolved = info?.type === 'symlink' ? await host.resolve(path).catch(() => undefined) : undefined;
      const targetInfo = resolved && resolved !== path ? await host.stat(resolved) : null;
      return { path, info, target: targetInfo?.type === 'file' ? { path: resolved!, info: targetInfo } : undefined };
    });
    for (const { target } of [...found]) {
      if (target && !queue.includes(target.path) && !known.has(target.path)) {
        queue.push(target.path);
        found.push({ ...target, target: undefined });
      }
    }
    const copied = found.filter((f) => f.info && f.info.type !== 'symlink');
    const dirs = [...new Set(copied.map((f) => posix.dirname(storedPath(this.id, f.path))))];
    for (const dir of dirs) await host.mkdirp(dir, 0o700);
    const hashes = new Map<string, string>();
    await mapLimit(copied, COPY_AT_ONCE, async ({ path, info }) => {
      const data = await host.readFile(path, { maxBytes: info!.size });
      await (await host.stageFile(storedPath(this.id, path), data, { mode: 0o600 })).commit();
      hashes.set(path, sha256(data));
    });
    // every copy durable before the manifest that makes the backup count
    await host.syncDirs(dirs);
    for (const { path, info } of found) {
      // restoring a link later must find the file it points at, whatever happened to it meanwhile: it is stored too
      const file: BackupFile = !info
        ? { path, type: 'absent' }
        : info.type === 'symlink'
          ? { path, type: 'symlink', linkTarget: info.linkTarget, uid: info.uid, gid: info.gid }
          : { path, type: 'file', sha256: hashes.get(path), mode: info.mode, uid: info.uid, gid: info.gid };
      this.stored.push(file);
    }
  }
}

export async function listBackups(host: Host): Promise<BackupManifest[]> {
  const manifests: BackupManifest[] = [];
  for (const id of await host.list(BACKUP_DIR)) {
    try {
      manifests.push(JSON.parse((await host.readFile(posix.join(BACKUP_DIR, id, 'manifest.json'))).toString('utf8')));
    } catch {
      // incomplete backup (a run killed while writing it): nothing was changed after it, so it is not listed
    }
  }
  return manifests.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/** Backup directories without a manifest: a run was killed while taking them (nothing was changed after). */
export async function incompleteBackups(host: Host): Promise<string[]> {
  const ids: string[] = [];
  for (const id of await host.list(BACKUP_DIR)) if (!(await host.stat(posix.join(BACKUP_DIR, id, 'manifest.json')))) ids.push(id);
  return ids;
}

export async function readBackup(host: Host, id: string): Promise<BackupManifest> {
  const backups = await listBackups(host);
  const found = id === 'latest' ? backups.at(-1) : backups.find((b) => b.id === id);
  if (!found) {
    throw new KpkiError(`no backup "${id}" in ${host.describe(BACKUP_DIR)}`, { remedies: [remedy('list them', 'backups')], exitCode: 1 });
  }
  return found;
}

/** Every stored file of a backup, each checked against its recorded sha256 before anything is written. */
export async function storedContents(host: Host, manifest: BackupManifest): Promise<Map<string, Buffer>> {
  const contents = new Map<string, Buffer>();
  for (const file of manifest.files) {
    if (file.type !== 'file') continue;
    const data = await host.readFile(storedPath(manifest.id, file.path), { maxBytes: Infinity }).catch(() => undefined);
    if (!data || sha256(data) !== file.sha256) {
      throw new KpkiError(`backup ${manifest.id} is damaged: ${file.path} does not match its recorded sha256`, {
        path: storedPath(manifest.id, file.path),
        hint: 'nothing was restored',
        remedies: [remedy('pick another backup', 'backups')],
      });
    }
    contents.set(file.path, data);
  }
  return contents;
}

/**
 * What putting a backup back changes, in a safe order: files first, then symlinks switched to them, then what the
 * backup did not have removed, so a link never points at a file already gone. Files already as recorded are left alone.
 */
export async function restoreWrites(host: Host, manifest: BackupManifest): Promise<FileWrite[]> {
  const contents = await storedContents(host, manifest);
  const files: FileWrite[] = [];
  const links: FileWrite[] = [];
  const removals: FileWrite[] = [];
  for (const file of manifest.files) {
    if (await alreadyAsRecorded(host, file, contents.get(file.path))) continue;
    if (file.type === 'file')
      files.push({
        kind: 'file',
        path: file.path,
        data: contents.get(file.path)!,
        mode: file.mode!,
        uid: file.uid,
        gid: file.gid,
        entry: file.path,
        format: 'binary',
      });
    else if (file.type === 'symlink') links.push({ kind: 'symlink', path: file.path, target: file.linkTarget!, entry: file.path });
    else removals.push({ kind: 'remove', path: file.path, entry: file.path });
  }
  return [...files, ...links, ...removals];
}

/** Puts every file of a backup back, byte-identical with mode and owner (the journal's rollback; not journaled itself). */
export async function restoreFiles(host: Host, manifest: BackupManifest): Promise<void> {
  for (const write of await restoreWrites(host, manifest)) {
    if (write.kind === 'file') await host.writeFileAtomic(write.path, write.data, { mode: write.mode, uid: write.uid, gid: write.gid });
    else if (write.kind === 'symlink') await host.symlinkAtomic(write.path, write.target);
    else await host.remove(write.path);
  }
}

/** True when some file of the backup is no longer as it was recorded (the run after the backup wrote it). */
export async function changedSince(host: Host, manifest: BackupManifest): Promise<boolean> {
  for (const file of manifest.files) {
    const data =
      file.type === 'file'
        ? await host.readFile(storedPath(manifest.id, file.path), { maxBytes: Infinity }).catch(() => undefined)
        : undefined;
    if (file.type === 'file' && !data) return true;
    if (!(await alreadyAsRecorded(host, file, data))) return true;
  }
  return false;
}

/** Files a failed run never reached are left alone (they may sit on a read-only or full filesystem). */
async function alreadyAsRecorded(host: Host, file: BackupFile, data?: Buffer): Promise<boolean> {
  const info = await host.stat(file.path);
  if (file.type === 'absent') return info === null;
  if (file.type === 'symlink') return info?.type === 'symlink' && info.linkTarget === file.linkTarget;
  // key material is put back at most 0600 (never readable by group or others), whatever mode it had
  if (info?.type !== 'file' || info.mode !== writeMode(data!, file.mode!) || info.uid !== file.uid || info.gid !== file.gid) return false;
  // (a file larger than the recorded one is not as recorded: it is not even read)
  const now = await host
    .readFile(file.path, { maxBytes: data!.length })
    .catch((err: NodeJS.ErrnoException) => (err.code === 'E2BIG' ? undefined : Promise.reject(err)));
  return now !== undefined && sha256(now) === sha256(data!);
}
