// The rollout journal kept on each node (/var/lib/kpki/rollout.json): which rollout, with which settings, in which
// order, and how far this node got. A rollout killed anywhere (Ctrl-C, lost connection, the operator's machine
// rebooted) is continued from it with --resume: nothing done twice, nothing left half-done.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Host } from '../hosts/host.js';
import { STATE_DIR } from '../node/txn/index.js';
import type { Component } from '../service/health.js';
import type { StrategyName } from '../service/strategies.js';
import type { SanChange } from '../node/renew/index.js';
import type { RotatableCa } from '../kubeadm/ca-trust.js';
import type { WritingPhase } from '../node/rotation/index.js';

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
  /** kpki san -i: the names that change (the plan is that certificate alone on every control-plane node). */
  sans?: SanChange;
  /** kpki import -i: the operator's directory of requests and signed certificates (DIR/<node>/), instead of signing. */
  importFrom?: string;
  /** kpki ca rotate: the CA and the phase this rollout carries out on every control-plane node. */
  caRotation?: { ca: RotatableCa; phase: WritingPhase };
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

/** A journal an earlier kpki wrote carried restarts among the renewed names ("restart:<component>"): read as typed. */
function withTypedRestarts(journal: RolloutJournal): RolloutJournal {
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
