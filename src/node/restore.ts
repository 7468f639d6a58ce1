// Putting a backup back is a change like a renewal: backed up first (the files it replaces), journaled, written
// atomically in a safe order and read back, so a restore (or a rollback) killed anywhere is undone by the next run.
import type { Host } from '../hosts/host.js';
import { applyWrites } from './apply.js';
import { BackupManifest, restoreWrites } from './backup.js';

export interface RestoreResult {
  /** The files the restore replaced, or undefined when every file already was as the backup has it. */
  replaced?: BackupManifest;
  changed: number;
}

export async function restoreBackup(host: Host, backup: BackupManifest, operation = `restore of ${backup.id}`): Promise<RestoreResult> {
  const writes = await restoreWrites(host, backup);
  if (writes.length === 0) return { changed: 0 };
  const { backup: replaced } = await applyWrites(host, writes, operation);
  return { replaced, changed: writes.length };
}
