// The writing part of a rollout node, written once for control-plane nodes and workers: the node's rollout journal
// says where a killed run got (pending → writing → written), so a resumed rollout never writes twice and never
// loses a write that finished. Runs under the node lock, after `repairNode` rolled back a half-done write.
import type { Host } from '../../hosts/host.js';
import { applyWrites } from '../../node/txn/index.js';
import { BackupManifest, changedSince, listBackups, readBackup } from '../../node/txn/index.js';
import type { FileWrite } from '../../node/renew/index.js';
import type { RenewalPlan } from '../../node/renew/index.js';
import type { NodeJournal } from './journal.js';
import type { Component } from '../../service/health.js';

export interface Change {
  name: string;
  oldNotAfter?: string;
  newNotAfter?: string;
}

/** What a node needs written, or nothing; with the components that must restart although none of their certificates changed. */
export interface PlannedWrites {
  writes: FileWrite[];
  changes: Change[];
  restart?: Component[];
}

export type JournaledWrite = { outcome: 'unchanged' } | { outcome: 'written'; backup: BackupManifest; fresh: boolean };

/** An interrupted "writing" step: did its writes complete (the files differ from the backup it took)? */
async function completedWrites(host: Host, reason: string): Promise<string | undefined> {
  const mine = (await listBackups(host)).filter((b) => b.reason === reason);
  for (const b of mine.reverse()) if (await changedSince(host, b)) return b.id;
  return undefined;
}

export const changesOf = (plan: RenewalPlan): Change[] =>
  plan.items.map((i) => ({ name: i.name, oldNotAfter: i.oldNotAfter.toISOString(), newNotAfter: i.newNotAfter.toISOString() }));

/**
 * Settles an interrupted write, then (when the journal says pending) plans and writes with a backup, each step in
 * the journal first. `fresh` tells whether this run wrote (else an earlier run of the rollout did).
 */
export async function journaledWrite(
  host: Host,
  o: { journal: NodeJournal; reason: string; step: (what: string) => void; log: (line: string) => void },
  plan: () => Promise<PlannedWrites | undefined>,
): Promise<JournaledWrite> {
  const { journal } = o;
  if (journal.state.step === 'writing') {
    // killed around the writes: the node's own journal rolled back a half-done write; a finished one stands
    const done = await completedWrites(host, o.reason);
    await journal.set(done ? { step: 'written', backup: done } : { step: 'pending' });
    if (done) o.log(`the interrupted run had renewed the files (backup ${done}): continuing with bringing them into service`);
  }
  if (journal.state.step === 'pending') {
    const planned = await plan();
    if (!planned) {
      await journal.set({ step: 'done', outcome: 'unchanged' });
      return { outcome: 'unchanged' };
    }
    const renewed = planned.changes.map((c) => c.name);
    await journal.set({ step: 'writing', renewed, restart: planned.restart, changes: planned.changes });
    o.step(`backup + write ${renewed.join(', ')}`);
    const { backup } = await applyWrites(host, planned.writes, o.reason);
    await journal.set({ step: 'written', backup: backup.id });
    return { outcome: 'written', backup, fresh: true };
  }
  return { outcome: 'written', backup: await readBackup(host, journal.state.backup!), fresh: false };
}
