// The rollout journal kept on each node (/var/lib/kpki/rollout.json): which rollout, with which settings, in which
// order, and how far this node got. A rollout killed anywhere (Ctrl-C, lost connection, the operator's machine
// rebooted) is continued from it with --resume: nothing done twice, nothing left half-done.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Host } from '../../hosts/host.js';
import { STATE_DIR } from '../../node/txn/index.js';
import type { Component } from '../../service/health.js';
import type { StrategyName } from '../../service/strategies.js';
import type { SanChange } from '../../node/renew/index.js';
import type { RotatableCa } from '../../kubeadm/ca-trust.js';
import type { WritingPhase } from '../../node/rotation/index.js';

export const ROLLOUT_JOURNAL = `${STATE_DIR}/rollout.json`;

/** pending → writing (backup, then atomic writes) → written (files renewed) → done (in service, gates passed). */
export type NodeStep = 'pending' | 'writing' | 'written' | 'done';

export interface RolloutSettings {
  names: string[];
  ifExpiresWithinMs?: number;
  validityMs?: number;
  reuseKeys?: boolean;
  keyAlgorithm?: string;
  strategy: StrategyName;
  timeoutMs: number;
  maxUnavailable: number;
  /** What the rollout does on each node (kinds exclude each other). */
  work: RolloutWork;
}

/**
 * What a rollout does on each node, one kind at a time: renew what is due (renew -i); change the names of one
 * certificate (san -i: that certificate alone on every control-plane node); install the certificates an external CA
 * signed (import -i, from the operator's directory DIR/<node>/, instead of signing); one phase of a rotation (ca
 * rotate); the kubelets' client certificates (kubelet renew -i); a cluster whose certificates expired (recover -i).
 */
export type RolloutWork =
  | { kind: 'renew' }
  | { kind: 'san'; change: SanChange }
  | { kind: 'import'; from: string }
  | { kind: 'ca-phase'; ca: RotatableCa; phase: WritingPhase }
  | { kind: 'kubelet' }
  | { kind: 'recover' };

/** san -i's change, when that is the work. */
export const sansOf = (settings: RolloutSettings): SanChange | undefined =>
  settings.work.kind === 'san' ? settings.work.change : undefined;

/** What a node's renewal plan and its kubeadm config edits take of the settings (san -i's change among them). */
export function planOptionsOf(settings: RolloutSettings) {
  const { names, ifExpiresWithinMs, validityMs, reuseKeys, keyAlgorithm } = settings;
  return { names, ifExpiresWithinMs, validityMs, reuseKeys, keyAlgorithm, sans: sansOf(settings) };
}

/** The settings an earlier kpki wrote (sans, importFrom and caRotation side by side) as one kind of work. */
function withWork(
  settings: RolloutSettings & { sans?: SanChange; importFrom?: string; caRotation?: { ca: RotatableCa; phase: WritingPhase } },
): RolloutSettings {
  if (settings.work) return settings;
  const { sans, importFrom, caRotation, ...rest } = settings;
  const work: RolloutWork = caRotation
    ? { kind: 'ca-phase', ...caRotation }
    : importFrom
      ? { kind: 'import', from: importFrom }
      : sans
        ? { kind: 'san', change: sans }
        : { kind: 'renew' };
  return { ...rest, work };
}

export interface RolloutJournal {
  rollout: string;
  operation: 'renew' | 'recover' | 'kubelet renew' | 'ca rotate';
  startedAt: string;
  by: string;
  settings: RolloutSettings;
  /** Every node of the rollout, in order. */
  nodes: string[];
  node: string;
  step: NodeStep;
  /** Once done: whether anything was renewed here. */
  outcome?: 'renewed' | 'unchanged';
  /** From "writing" on: the backup taken before the writes, the names being renewed. */
  backup?: string;
  renewed?: string[];
  /** From "writing" on: components to restart although none of their certificates changed (a changed CA bundle). */
  restart?: Component[];
  changes?: { name: string; oldNotAfter?: string; newNotAfter?: string }[];
  /** Components already serving the renewed files (restarted or reloaded). */
  inService?: Component[];
  updatedAt: string;
}

export function newRolloutId(now = new Date()): string {
  return `r${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${randomBytes(2).toString('hex')}`;
}

export const operatorName = () => `pid ${process.pid} on ${hostname()}`;

export async function readRolloutJournal(host: Host): Promise<RolloutJournal | undefined> {
  if (!(await host.stat(ROLLOUT_JOURNAL))) return undefined;
  try {
    return withTypedRestarts(JSON.parse((await host.readFile(ROLLOUT_JOURNAL)).toString('utf8')));
  } catch (err) {
    throw new Error(`${host.describe(ROLLOUT_JOURNAL)} is not readable JSON (${(err as Error).message}): move it away to start over`);
  }
}

/**
 * A journal an earlier kpki wrote: restarts among the renewed names ("restart:<component>") and settings without a
 * kind of work, read as the types say now.
 */
function withTypedRestarts(read: RolloutJournal): RolloutJournal {
  const journal = { ...read, settings: withWork(read.settings) };
  const legacy = (journal.renewed ?? []).filter((n) => n.startsWith('restart:'));
  if (legacy.length === 0) return journal;
  return {
    ...journal,
    renewed: journal.renewed!.filter((n) => !legacy.includes(n)),
    changes: journal.changes?.filter((c) => !legacy.includes(c.name)),
    restart: [...new Set([...(journal.restart ?? []), ...legacy.map((n) => n.slice('restart:'.length) as Component)])],
  };
}

export async function writeRolloutJournal(host: Host, journal: RolloutJournal): Promise<void> {
  await host.mkdirp(STATE_DIR, 0o700);
  await host.writeFileAtomic(ROLLOUT_JOURNAL, `${JSON.stringify({ ...journal, updatedAt: new Date().toISOString() }, null, 2)}\n`, {
    mode: 0o600,
  });
}

export async function clearRolloutJournal(host: Host): Promise<void> {
  if (await host.stat(ROLLOUT_JOURNAL)) await host.remove(ROLLOUT_JOURNAL);
}

/** A node's journal, updated step by step. */
export class NodeJournal {
  constructor(
    private readonly host: Host,
    public state: RolloutJournal,
    /** false: kept in memory only (recover -i, which is simply run again: it renews only what is still due). */
    private readonly persist = true,
  ) {}

  async set(update: Partial<RolloutJournal>): Promise<void> {
    this.state = { ...this.state, ...update };
    if (this.persist) await writeRolloutJournal(this.host, this.state);
  }

  async inService(component: Component): Promise<void> {
    await this.set({ inService: [...new Set([...(this.state.inService ?? []), component])] });
  }
}
