// One node's renewal, written once: under the node lock, repair what an interrupted run left (its half-written files,
// manifests it parked), scan, plan, let the caller look at the plan, materialise and write with a backup, then let
// the caller bring the result into service, still under the lock. `kpki renew`, `kpki recover`, the demo, the
// renewal timer and the cluster's recovery all go through here; the rollout's journaled steps use `repairNode`.
import type { Host } from '../hosts/host.js';
import { applyWrites, recoverInterrupted, withNodeLock } from '../node/txn/index.js';
import { BackupInProgress, type BackupManifest } from '../node/txn/index.js';
import type { NodeScan } from '../node/scan/index.js';
import { FileWrite, materialize, plannedPaths } from '../node/renew/index.js';
import { PlanOptions, planRenewal, RenewalPlan } from '../node/renew/index.js';
import { scanNode, ScanOptions } from '../node/scan/index.js';
import { restoreParked } from './parked.js';

export interface RepairOptions {
  /** Drop the journal of an interrupted run whose backup is gone (the operator looked at `kpki check` first). */
  discardJournal?: boolean;
  /** Put back static pod manifests an interrupted restart parked (only where components are restarted). */
  unpark?: boolean;
  log: (line: string) => void;
}

/** What every writing run does first on a node, holding its lock: roll back a run killed half-way, unpark manifests. */
export async function repairNode(host: Host, o: RepairOptions): Promise<void> {
  const recovered = await recoverInterrupted(host, { discardJournal: o.discardJournal });
  if (recovered) o.log(recovered);
  if (o.unpark) for (const line of await restoreParked(host)) o.log(line);
}

export interface RenewNodeOptions<T> extends RepairOptions {
  scan: ScanOptions;
  /** How to plan (a fresh scan is planned under the lock), or the plan the operator already approved. */
  plan: Omit<PlanOptions, 'now'> | ((scan: NodeScan) => RenewalPlan);
  /** A plan that only tightens key file modes is carried out too (`kpki renew`); elsewhere it is nothing to do. */
  fixModes?: boolean;
  /** What the node's backup is called, e.g. "renew" or "renew (timer)". */
  reason: string;
  /** More files the same transaction writes (a kubeadm config that records a change), given the plan. */
  alsoWrite?: (plan: RenewalPlan, scan: NodeScan) => Promise<FileWrite[]>;
  /** Sees the plan before anything is written; a value other than `undefined` stops the run with it (nothing written). */
  review?: (plan: RenewalPlan, scan: NodeScan) => Promise<T | undefined>;
  /** Runs after the writes (or when there was nothing to write), still under the lock: bringing them into service. */
  then?: (result: { plan: RenewalPlan; scan: NodeScan; backup?: BackupManifest }) => Promise<T>;
}

export interface RenewNodeOutcome<T> {
  plan: RenewalPlan;
  /** The backup taken before the writes; none when nothing was written. */
  backup?: BackupManifest;
  /** What `review` stopped the run with, or what `then` returned. */
  value?: T;
}

export function renewNode<T = never>(host: Host, o: RenewNodeOptions<T>): Promise<RenewNodeOutcome<T>> {
  return withNodeLock(host, async () => {
    await repairNode(host, o);
    const scan = await scanNode(host, o.scan);
    const plan = typeof o.plan === 'function' ? o.plan(scan) : planRenewal(scan, { ...o.plan, now: new Date() });
    const stop = await o.review?.(plan, scan);
    if (stop !== undefined) return { plan, value: stop };
    const nothing = plan.items.length === 0 && (!o.fixModes || plan.modeChanges.length === 0);
    if (nothing) return { plan, value: await o.then?.({ plan, scan: scan }) };
    // the backup of the files the plan names is taken while the keys are made (the cores make keys, the disk copies)
    // (a failure to copy is kept in the backup and stops the run at applyWrites, before any write)
    const backup = new BackupInProgress(host, o.reason);
    void backup.add(await plannedPaths(host, scan, plan));
    let writes: FileWrite[];
    try {
      writes = [...(await materialize(host, scan, plan)), ...((await o.alsoWrite?.(plan, scan)) ?? [])];
    } catch (err) {
      await backup.abandon().catch(() => undefined);
      throw err;
    }
    const written = (await applyWrites(host, writes, o.reason, backup)).backup;
    return { plan, backup: written, value: await o.then?.({ plan, scan: scan, backup: written }) };
  });
}
