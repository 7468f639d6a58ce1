// The rollout journal's lifecycle over all the nodes of a rollout, one way for every kind of rollout: written on every
// node before the first change (a node with nothing to do is written done), removed from every node only at the very
// end or when the rollout stops (a stopped node was rolled back: nothing is left to resume).
import type { Host } from '../../hosts/host.js';
import type { InventoryNode } from '../inventory/model.js';
import { clearRolloutJournal, operatorName, type RolloutJournal, type RolloutSettings, writeRolloutJournal } from './journal.js';
import { markUntouched } from '../operation.js';
import type { Operation } from '../outcome.js';

/** A node of a rollout as the journal lifecycle sees it. */
export interface JournaledMember {
  node: InventoryNode;
  host: Host;
  journal?: RolloutJournal;
}

/** Writes every node's journal before the first change: a rollout killed anywhere can be resumed. */
export async function writeJournals<M extends JournaledMember>(
  op: Operation,
  members: M[],
  rollout: { id: string; operation: RolloutJournal['operation']; settings: RolloutSettings },
  hasWork: (m: M) => boolean,
): Promise<void> {
  const base: Omit<RolloutJournal, 'node' | 'step'> = {
    rollout: rollout.id,
    operation: rollout.operation,
    startedAt: op.report.startedAt,
    by: operatorName(),
    settings: rollout.settings,
    nodes: members.map((m) => m.node.name),
    updatedAt: '',
  };
  for (const m of members) {
    m.journal = hasWork(m)
      ? { ...base, node: m.node.name, step: 'pending' }
      : { ...base, node: m.node.name, step: 'done', outcome: 'unchanged' };
    await writeRolloutJournal(m.host, m.journal);
  }
}

/** Removes the journal from every node of the rollout (finished, or stopped with the stopped node rolled back). */
export async function clearJournals(members: { host: Host }[]): Promise<void> {
  for (const m of members) await clearRolloutJournal(m.host);
}

/**
 * Stops a rollout at a node that did not come back (rolled back) or at a gate: the nodes not reached are marked not
 * touched, every journal is removed, exit 1. `what` names the rollout ("Rollout", "etcd-ca issue"), `at` the node.
 */
export async function stopRollout(
  op: Operation,
  members: { host: Host }[],
  stop: { what: string; at: string; why?: string; exceptNode?: string; hint?: string },
): Promise<ReturnType<Operation['finish']>> {
  const untouched = markUntouched(op, stop.exceptNode);
  await clearJournals(members);
  return op.finish(
    'stopped',
    `${stop.what} STOPPED at ${stop.at}${stop.why ? ` (${stop.why})` : ''}. Not touched: ${untouched.join(', ') || 'no other node'}.`,
    ...(stop.hint ? [stop.hint] : []),
  );
}
