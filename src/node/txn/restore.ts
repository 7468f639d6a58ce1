// Putting a backup back is a change like a renewal: backed up first (the files it replaces), journaled, written
// atomically in a safe order and read back, so a restore (or a rollback) killed anywhere is undone by the next run.
import { posix } from 'node:path';
import type { Host } from '../../hosts/host.js';
import { applyWrites } from './apply.js';
import { BackupManifest, listBackups, restoreWrites } from './backup.js';
import type { FileWrite } from '../renew/index.js';

export interface RestoreResult {
  /** The files the restore replaced, or undefined when every file already was as the backup has it. */
  replaced?: BackupManifest;
  changed: number;
}

export async function restoreBackup(host: Host, backup: BackupManifest, operation = `restore of ${backup.id}`): Promise<RestoreResult> {
  const writes = [...(await restoreWrites(host, backup)), ...(await createdSince(host, backup))];
  if (writes.length === 0) return { changed: 0 };
  const { backup: replaced } = await applyWrites(host, writes, operation);
  return { replaced, changed: writes.length };
}

/**
 * The tree as it was before the backup's run has none of the files later kpki runs created: a later backup records
 * each as absent before its run (a renewal's new kubelet-client-<time>.pem). Those that are still there and that
 * the backup does not know are removed with it (a private key nothing points at any more is not left behind).
 */
async function createdSince(host: Host, backup: BackupManifest): Promise<FileWrite[]> {
  const known = new Set(backup.files.map((f) => f.path));
  const later = (await listBackups(host)).filter((b) => b.createdAt > backup.createdAt && b.id !== backup.id);
  const created = new Set(later.flatMap((b) => b.files.filter((f) => f.type === 'absent' && !known.has(f.path)).map((f) => f.path)));
  // (never what a link the backup puts back points at)
  const linked = new Set(
    backup.files
      .filter((f) => f.type === 'symlink')
      .map((f) => (f.linkTarget!.startsWith('/') ? f.linkTarget! : posix.join(posix.dirname(f.path), f.linkTarget!))),
  );
  const removals: FileWrite[] = [];
  for (const path of created) {
    if (linked.has(path) || (await host.stat(path))?.type !== 'file') continue;
    removals.push({ kind: 'remove', path, entry: path });
  }
  return removals;
}
