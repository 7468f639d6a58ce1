// Which backups `kpki backups prune` removes: complete ones beyond the newest N or older than a date, and any a run
// never finished; never one an interrupted run or a rollout still needs to roll back or resume.
import { posix } from 'node:path';
import type { Host } from '../../hosts/host.js';
import { BACKUP_DIR, incompleteBackups, listBackups, STATE_DIR } from './backup.js';
import { interruptedRun } from './apply.js';

export interface PruneOptions {
  keep?: number;
  olderThanMs?: number;
  now: Date;
}

export interface PrunePlan {
  remove: { id: string; createdAt?: string; reason: string }[];
  kept: { id: string; why: string }[];
}

const ROLLOUT_JOURNAL = `${STATE_DIR}/rollout.json`;

export async function planPrune(host: Host, o: PruneOptions): Promise<PrunePlan> {
  const backups = await listBackups(host); // oldest first
  const needed = new Map<string, string>();
  const run = await interruptedRun(host).catch(() => undefined);
  if (run) needed.set(run.backupId, `an interrupted ${run.operation} rolls back to it`);
  try {
    const rollout = JSON.parse((await host.readFile(ROLLOUT_JOURNAL)).toString('utf8')) as { rollout?: string; backup?: string };
    if (rollout.backup) needed.set(rollout.backup, `rollout ${rollout.rollout} (kpki renew -i --resume) needs it`);
  } catch {
    /* no rollout journal */
  }
  const plan: PrunePlan = { remove: [], kept: [] };
  backups.forEach((b, i) => {
    const newest = backups.length - i; // 1 = the newest
    const old = o.olderThanMs === undefined || o.now.getTime() - Date.parse(b.createdAt) > o.olderThanMs;
    const beyond = o.keep === undefined || newest > o.keep;
    if (!(old && beyond)) return;
    const why = needed.get(b.id);
    if (why) plan.kept.push({ id: b.id, why });
    else plan.remove.push({ id: b.id, createdAt: b.createdAt, reason: b.reason });
  });
  for (const id of await incompleteBackups(host)) plan.remove.push({ id, reason: 'incomplete (a run was killed while taking it)' });
  return plan;
}

export async function applyPrune(host: Host, plan: PrunePlan): Promise<void> {
  for (const b of plan.remove) await host.remove(posix.join(BACKUP_DIR, b.id));
}
