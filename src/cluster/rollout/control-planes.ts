// The control-plane nodes of a rollout, one at a time, whatever the rollout's work: each node's step (lock, repair,
// back up and write, bring into service, the node gate: cluster/node-renewal.ts), then the cluster gate, and the
// node Ready gate when its kubelet's certificate changed. A node that does not pass is rolled back and the rollout
// stops there: the nodes after it are not touched.
import { waitNodeReady } from '../../api/node-ready.js';
import type { SshHost } from '../../hosts/ssh.js';
import { kubeletStatus } from '../../node/kubelet/index.js';
import type { NewSigner } from '../../node/rotation/index.js';
import { type ScanOptions, scanNode } from '../../node/scan/index.js';
import { adminAccess } from '../cluster-access.js';
import { clusterGateProblems, waitGate } from '../gates.js';
import type { InventoryNode } from '../inventory/model.js';
import { NodeJournal, type RolloutJournal } from './journal.js';
import { renewControlPlaneNode, rollBackNode } from './node-step.js';
import type { ClusterMember } from '../operation.js';
import type { Operation } from '../outcome.js';

type Journaled = ClusterMember & { journal?: RolloutJournal };

/**
 * The nodes with work, in order, each through its step and the gates (`gateMembers`: every node the cluster gate
 * asks); where the rollout must stop, and why, if it must. Each node's journal holds its settings.
 */
export async function stepControlPlanes<M extends Journaled>(
  op: Operation,
  work: M[],
  gateMembers: ClusterMember[],
  o: { reason: string; scan: ScanOptions; nextCa?: NewSigner },
): Promise<{ at: M; why: string } | undefined> {
  for (const [i, m] of work.entries()) {
    op.events.log(`\n== [${i + 1}/${work.length}] ${m.node.name}`);
    const why = await controlPlaneStep(op, m, gateMembers, o);
    if (why) return { at: m, why };
  }
  return undefined;
}

/** One control-plane node, then the cluster gate; why the rollout must stop, if it must. */
async function controlPlaneStep(
  op: Operation,
  m: Journaled,
  members: ClusterMember[],
  o: { reason: string; scan: ScanOptions; nextCa?: NewSigner },
): Promise<string | undefined> {
  const ctx = {
    scan: o.scan,
    events: op.events,
    report: op.entry(m.node.name),
    journal: new NodeJournal(m.host, m.journal!),
    reason: o.reason,
    nextCa: o.nextCa,
  };
  const settings = m.journal!.settings;
  const started = Date.now();
  const result = await renewControlPlaneNode(m.node, m.host, ctx);
  if (result.outcome === 'rolled-back' || result.outcome === 'failed') {
    op.events.finished(m.node.name, result.outcome, result.detail);
    return result.outcome === 'rolled-back' ? 'rolled back to its backup' : 'ROLLBACK INCOMPLETE: see above';
  }
  if (result.outcome === 'renewed') {
    op.events.step(m.node.name, 'cluster gate');
    let gate = await waitGate(() => clusterGateProblems(members, o.scan), settings.timeoutMs);
    op.events.gated({ gate: 'cluster', after: m.node.name, ok: gate.length === 0, problems: gate });
    if (
      gate.length === 0 &&
      (ctx.journal.state.renewed?.some((n) => n === 'kubelet-client' || n === 'kubelet.conf') ||
        ctx.journal.state.restart?.includes('kubelet'))
    ) {
      gate = await nodeReadyGate(members, m, started, settings.timeoutMs, o.scan);
      op.events.gated({ gate: 'node Ready', after: m.node.name, ok: gate.length === 0, problems: gate });
    }
    if (gate.length > 0) {
      const back = await rollBackNode(m.node, m.host, ctx);
      op.events.finished(m.node.name, back.ok ? 'rolled-back' : 'failed', `cluster gate: ${gate[0]}`);
      return back.ok
        ? 'the cluster gate failed; rolled back to its backup'
        : `the cluster gate failed; ROLLBACK INCOMPLETE: ${back.detail}`;
    }
  }
  await ctx.journal.set({ step: 'done', outcome: result.outcome });
  op.events.finished(
    m.node.name,
    result.outcome,
    result.outcome === 'renewed'
      ? `in ${((Date.now() - started) / 1000).toFixed(1)} s; every control-plane node healthy`
      : 'nothing to renew',
  );
  return undefined;
}

/** A control-plane node whose kubelet certificate was renewed: Ready, its kubelet seen since. */
async function nodeReadyGate(
  members: { node: InventoryNode; host: SshHost }[],
  m: { node: InventoryNode; host: SshHost },
  since: number,
  timeoutMs: number,
  scan: ScanOptions,
): Promise<string[]> {
  const admin = await adminAccess(
    members.filter((x) => x.node.role === 'control-plane'),
    scan,
  );
  if (!admin) return [];
  const status = await kubeletStatus(m.host, await scanNode(m.host, scan));
  const name = /^system:node:(.+)$/.exec(status.client?.commonName ?? '')?.[1] ?? m.node.name;
  const ready = await waitNodeReady(admin.access, name, new Date(since), Math.min(timeoutMs, 120_000));
  return ready.ok ? [] : [`${m.node.name}: node ${name} ${ready.detail}`];
}
