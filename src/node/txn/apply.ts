// Applying changes safely: one lock per node, a backup before the first write, a journal that lets the next run
// roll back a run that was killed half-way, atomic writes, and a check of the result before the journal is cleared.
import { posix } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Host, HostLock, StagedFile } from '../../hosts/host.js';
import { LockHeldError } from '../../hosts/host.js';
import { keyMatchesCertificate, parseCertificate, parseCertificates } from '../../pki/certificate.js';
import { parsePrivateKey } from '../../pki/keys.js';
import { isPrivateKeyType, parsePem } from '../../pki/pem.js';
import { keyFingerprint, publicKeysOf } from '../../pki/public-keys.js';
import { parseKubeconfig } from '../../kubeadm/kubeconfig.js';
import { BACKUP_DIR, BackupInProgress, BackupManifest, listBackups, readBackup, restoreFiles, STATE_DIR } from './backup.js';
import { removeLeftovers } from './leftovers.js';
import { KpkiError, remedy } from '../../errors.js';
import type { FileWrite } from '../renew/index.js';
import { mapLimit } from '../../util/parallel.js';

export const LOCK_PATH = `${STATE_DIR}/lock`;
export const JOURNAL_PATH = `${STATE_DIR}/journal.json`;

interface Journal {
  backupId: string;
  pid: number;
  startedAt: string;
  operation: string;
}

/** Files staged at once: their fsyncs overlap; over SSH, their round trips (an SSH server allows 10 sessions). */
const STAGE_AT_ONCE = 8;

/** Test hook: SIGKILL ourselves at a named point, to prove the journal recovers. */
function crashPoint(name: string): void {
  if (process.env.KPKI_TEST_CRASH_AT === name) process.kill(process.pid, 'SIGKILL');
}

/**
 * Test hook: SIGKILL ourselves before the Nth step of putting files in place (KPKI_TEST_KILL_AT_WRITE=N), so that a
 * crash campaign's kill lands among the writes of a run that takes less time than a watcher needs to notice it.
 */
function killAtWrite(step: number): void {
  if (process.env.KPKI_TEST_KILL_AT_WRITE === String(step)) process.kill(process.pid, 'SIGKILL');
}

async function acquireLock(host: Host): Promise<HostLock> {
  try {
    return await host.lock(LOCK_PATH);
  } catch (err) {
    if (err instanceof LockHeldError) {
      throw new KpkiError(err.message, {
        path: LOCK_PATH,
        hint: 'wait for the other run to finish; if no kpki runs on this node, the lock holder died and the next run clears it',
      });
    }
    throw err;
  }
}

/** The node locks this process holds now: a signal handler that must exit at once releases them first. */
const heldLocks = new Set<HostLock>();

/** Runs `fn` holding the node lock, and releases the lock however `fn` ends. */
export async function withNodeLock<T>(host: Host, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(host);
  heldLocks.add(lock);
  try {
    return await fn();
  } finally {
    heldLocks.delete(lock);
    await lock.release();
  }
}

/** Releases every node lock this process holds (before process.exit, which runs no finally). Never throws. */
export async function releaseHeldLocks(): Promise<void> {
  const locks = [...heldLocks];
  heldLocks.clear();
  await Promise.all(locks.map((lock) => lock.release().catch(() => undefined)));
}

/** `withNodeLock` unless `dryRun` (a dry run writes nothing, so it takes no lock: it may run beside a real one). */
export function withNodeLockUnless<T>(dryRun: boolean | undefined, host: Host, fn: () => Promise<T>): Promise<T> {
  return dryRun ? fn() : withNodeLock(host, fn);
}

export interface InterruptedRun {
  operation: string;
  pid: number;
  startedAt: string;
  backupId: string;
  /** Its backup is still there: the next run can roll it back. */
  backupPresent: boolean;
}

/** The journal an interrupted run left on the node, if any. */
export async function interruptedRun(host: Host): Promise<InterruptedRun | undefined> {
  if (!(await host.stat(JOURNAL_PATH))) return undefined;
  const journal: Journal = JSON.parse((await host.readFile(JOURNAL_PATH)).toString('utf8'));
  const present = (await listBackups(host)).some((b) => b.id === journal.backupId);
  return {
    operation: journal.operation,
    pid: journal.pid,
    startedAt: journal.startedAt,
    backupId: journal.backupId,
    backupPresent: present,
  };
}

/**
 * Puts back what a run killed half-way left (its journal's backup), then removes kpki's own leftovers (temp files of
 * atomic writes, backups never completed). Run under the node lock before anything else. Returns what was done.
 */
export async function recoverInterrupted(host: Host, o: { discardJournal?: boolean } = {}): Promise<string | undefined> {
  const lines: string[] = [];
  const run = await interruptedRun(host);
  if (run && !run.backupPresent) {
    if (!o.discardJournal) {
      throw new KpkiError(
        `a previous ${run.operation} (pid ${run.pid}, started ${run.startedAt}) was interrupted, and its backup ${run.backupId} is gone from ${host.describe(BACKUP_DIR)}: kpki cannot roll it back`,
        {
          path: JOURNAL_PATH,
          remedies: [
            remedy('look at the tree', 'check'),
            remedy(
              'when every certificate matches its key, drop the journal (renew, restore and recover take it)',
              'renew',
              '--discard-journal',
            ),
            remedy('or restore another backup', 'restore', 'ID', '--discard-journal'),
          ],
        },
      );
    }
    await host.remove(JOURNAL_PATH);
    lines.push(
      `discarded the journal of an interrupted ${run.operation} (started ${run.startedAt}; its backup ${run.backupId} is gone): the files are as that run left them`,
    );
  } else if (run) {
    const backup = await readBackup(host, run.backupId);
    await restoreFiles(host, backup);
    await host.remove(JOURNAL_PATH);
    lines.push(
      `a previous ${run.operation} (pid ${run.pid}, started ${run.startedAt}) was interrupted; its files were restored from backup ${backup.id}`,
    );
  }
  lines.push(...(await removeLeftovers(host)));
  return lines.length ? lines.join('\n') : undefined;
}

export interface ApplyResult {
  backup: BackupManifest;
}

/** Writes everything or nothing: on any failure the backup is put back before the error is raised. */
export async function applyWrites(
  host: Host,
  writes: FileWrite[],
  operation: string,
  /** A backup the caller began early (of the files it knew it would write); what it lacks is added here. */
  begun?: BackupInProgress,
): Promise<ApplyResult> {
  const paths = writes.map((w) => w.path);
  let backup: BackupManifest;
  try {
    const taking = begun ?? new BackupInProgress(host, operation);
    await taking.add(paths);
    backup = await taking.finish();
  } catch (err) {
    throw new KpkiError(`could not take the backup before ${operation}: ${(err as Error).message}; nothing was changed`, {
      hint: 'free disk space under /var/lib/kpki on the node, then run again',
      cause: err,
    });
  }
  crashPoint('after-backup');
  const journal: Journal = { backupId: backup.id, pid: process.pid, startedAt: new Date().toISOString(), operation };
  await host.writeFileAtomic(JOURNAL_PATH, `${JSON.stringify(journal)}\n`, { mode: 0o600 });
  const staged = new Map<FileWrite, StagedFile>();
  try {
    for (const dir of new Set(writes.filter((w) => w.kind === 'file').map((w) => posix.dirname(w.path)))) await host.mkdirp(dir, 0o755);
    // every file's new bytes written and flushed at once (the fsyncs overlap), then put in place one by one in order
    await mapLimit(writes, STAGE_AT_ONCE, async (write) => {
      if (write.kind === 'file')
        staged.set(write, await host.stageFile(write.path, write.data, { mode: write.mode, uid: write.uid, gid: write.gid }));
    });
    for (let i = 0; i < writes.length; i++) {
      const write = writes[i];
      if (i > 0 && writes[i - 1].entry !== write.entry) crashPoint('between-files');
      killAtWrite(i);
      if (write.kind === 'file') {
        await staged.get(write)!.commit();
        staged.delete(write);
      } else if (write.kind === 'symlink') {
        await host.symlinkAtomic(write.path, write.target);
      } else {
        await host.remove(write.path);
      }
      if (writes[i + 1]?.entry === write.entry) crashPoint('between-key-and-cert');
    }
    // the renames made durable, once per directory, before the journal goes
    await host.syncDirs([...new Set(writes.map((w) => posix.dirname(w.path)))]);
    await verifyWritten(host, writes);
  } catch (err) {
    for (const file of staged.values()) await file.discard().catch(() => undefined);
    await restoreFiles(host, backup);
    await host.remove(JOURNAL_PATH);
    const reason = (err as Error).message;
    throw new KpkiError(`${operation} failed: ${reason}; every file was restored from backup ${backup.id}`, {
      hint: (err as NodeJS.ErrnoException).code === 'ENOSPC' ? 'free disk space on the node, then run again' : undefined,
    });
  }
  await host.remove(JOURNAL_PATH);
  return { backup };
}

/**
 * The service-account key pair's files: every one parses, and a private key written with public keys in one entry is
 * among them (sa.key and sa.pub of an issue phase: tokens it signs must verify).
 */
async function verifyKeyFiles(host: Host, entry: string, files: FileWrite[]): Promise<void> {
  const publics: string[] = [];
  const privates: string[] = [];
  for (const f of files) {
    const text = await host.readFile(f.path);
    if (parsePem(text).some((b) => isPrivateKeyType(b.type))) privates.push(keyFingerprint(parsePrivateKey(text)));
    else {
      const keys = publicKeysOf(text);
      if (keys.length === 0) throw new Error(`written ${f.path} holds no public key`);
      publics.push(...keys.map(keyFingerprint));
    }
  }
  if (publics.length && privates.some((p) => !publics.includes(p)))
    throw new Error(`written ${entry}: the private key is not among the public keys written with it`);
}

/** Reads back what was written: every file byte for byte as meant, every certificate parses and its key matches. */
async function verifyWritten(host: Host, writes: FileWrite[]): Promise<void> {
  for (const w of writes) {
    if (w.kind !== 'file') continue;
    const meant = Buffer.from(w.data);
    if (!(await host.readFile(w.path, { maxBytes: meant.length })).equals(meant))
      throw new Error(`written ${w.path} does not read back as written`);
  }
  const byEntry = new Map<string, FileWrite[]>();
  for (const w of writes) byEntry.set(w.entry, [...(byEntry.get(w.entry) ?? []), w]);
  for (const w of writes) if (w.kind === 'remove' && (await host.stat(w.path))) throw new Error(`${w.path} is still there`);
  for (const [entry, all] of byEntry) {
    const files = all.filter((f) => f.kind !== 'remove');
    if (files.length === 0) continue;
    if (files.every((f) => f.kind === 'symlink')) {
      for (const f of files)
        if (f.kind === 'symlink' && (await host.stat(f.path))?.linkTarget !== f.target)
          throw new Error(`written ${f.path} does not point at ${f.target}`);
      continue;
    }
    const textFiles = files.filter((f) => f.kind === 'file' && (f.format === 'text' || f.format === 'binary'));
    if (textFiles.length === files.length) {
      // plain files (systemd units, the kpki binary): read back byte for byte
      continue; // (read back byte for byte above)
    }
    const bundles = files.filter((f) => f.kind === 'file' && f.format === 'bundle');
    if (bundles.length === files.length) {
      // CA bundles: certificates only, every one of them readable
      for (const f of bundles)
        if (parseCertificates(await host.readFile(f.path)).length === 0) throw new Error(`written ${f.path} holds no certificate`);
      continue;
    }
    const keyFiles = files.filter((f) => f.kind === 'file' && f.format === 'keys');
    if (keyFiles.length === files.length) {
      await verifyKeyFiles(host, entry, keyFiles);
      continue;
    }
    const yamlFiles = files.filter((f) => f.kind === 'file' && f.format === 'yaml');
    if (yamlFiles.length === files.length) {
      // a user's kubeconfig or the kubeadm config: it must still parse (its current context may use other
      // credentials than ours; a kubeadm config is often InitConfiguration --- ClusterConfiguration, several documents)
      for (const f of yamlFiles) {
        const errors = parseAllDocuments((await host.readFile(f.path)).toString('utf8')).flatMap((d) => d.errors);
        if (errors.length > 0) throw new Error(`written ${f.path} is not valid YAML: ${errors[0].message}`);
      }
      continue;
    }
    const pemFiles = files.filter((f) => f.kind === 'file' && f.format === 'pem');
    const kubeconfig = files.find((f) => f.kind === 'file' && f.format === 'kubeconfig');
    let certText: string;
    let keyText: string;
    if (kubeconfig) {
      const id = parseKubeconfig((await host.readFile(kubeconfig.path)).toString('utf8'));
      certText = id.clientCertificateData?.toString('utf8') ?? '';
      keyText = id.clientKeyData?.toString('utf8') ?? '';
    } else {
      certText = keyText = Buffer.concat(await Promise.all(pemFiles.map((f) => host.readFile(f.path)))).toString('utf8');
    }
    const cert = parseCertificate(certText);
    if (!keyMatchesCertificate(cert, parsePrivateKey(keyText)))
      throw new Error(`written ${entry} has a key that does not match its certificate`);
  }
}
