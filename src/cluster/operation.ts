// The skeleton every cluster operation shares (renew -i, recover -i, kubelet renew -i): start the report, reach every
// node (refusing to start when one cannot be reached), run the operation's phases, and however it ends close every
// connection; an exception ends it as "interrupted" with what to do next. Plus the phases they have in common:
// kubelets renewed in batches, the operator's kubeconfig, the nodes left untouched when an operation stops.
import type { KeyObject } from 'node:crypto';
import { describeError } from '../errors.js';
import type { Certificate } from '../pki/certificate.js';
import type { SshHost } from '../hosts/ssh.js';
import type { ScanOptions } from '../node/scan/index.js';
import type { ApiAccess } from '../api/client.js';
import { adminAccess } from './cluster-access.js';
import { connectAll, ConnectOptions } from './connect.js';
import type { InventoryNode } from './inventory/model.js';
import { NodeJournal, operatorName, RolloutJournal, RolloutSettings } from './rollout/journal.js';
import { Operation, RolloutEvents, RolloutReport, startOperation } from './outcome.js';
import { renewWorker, WorkerPlan } from './workers.js';
import type { NodeRenewalOutcome } from './rollout/node-step.js';

/** How an operation ended, as data: its report (result, refusal, every node); the CLI maps it to an exit code. */
export interface OperationOutcome {
  report: RolloutReport;
}

/** A node that was reached: its connection. */
export interface ClusterMember {
  node: InventoryNode;
  host: SshHost;
}

export interface OperationOptions extends ConnectOptions {
  concurrency: number;
  events: RolloutEvents;
}

export interface OperationSpec {
  kind: RolloutReport['operation'];
  /** Why every node is needed, when one cannot be reached. */
  needsEveryNode: string;
  /** What an exception leaves and what to do next. */
  interrupted: (err: string) => string[];
}

export async function clusterOperation(
  nodes: InventoryNode[],
  spec: OperationSpec,
  o: OperationOptions,
  run: (op: Operation, members: ClusterMember[]) => Promise<OperationOutcome>,
): Promise<OperationOutcome> {
  const op = startOperation(
    spec.kind,
    nodes.map((n) => ({ name: n.name, address: n.address, role: n.role })),
    o.events,
  );
  const reached = await connectAll(nodes, { ...o, concurrency: o.concurrency, onNotice: (line) => op.events.log(line) });
  try {
    const unreachable = reached.filter((r) => r.error);
    for (const r of unreachable) op.events.finished(r.node.name, 'unreachable', r.error);
    if (unreachable.length > 0)
      return op.refuse(
        'blocked',
        `Refusing to start: ${spec.needsEveryNode} (limit it with --nodes):\n  ${unreachable.map((r) => r.error).join('\n  ')}`,
      );
    return await run(
      op,
      reached.map((r) => ({ node: r.node, host: r.host! })),
    );
  } catch (err) {
    const [first, ...rest] = spec.interrupted(describeError(err));
    return op.finish('interrupted', first, ...rest);
  } finally {
    for (const r of reached) r.host?.close();
  }
}

/** Every node still pending (and, but for `except`, running) is marked as not touched; returns their names. */
export function markUntouched(op: Operation, except?: string): string[] {
  const untouched = op.report.nodes.filter((n) => n.node !== except && (n.outcome === 'pending' || n.outcome === 'running'));
  for (const n of untouched) op.events.finished(n.node, 'not-touched');
  return untouched.map((n) => n.node);
}

export interface KubeletBatches {
  /** Nodes one at a time: control-plane nodes first, then workers `batchSize` at a time. */
  members: ClusterMember[];
  batchSize: number;
  journalOf: (m: ClusterMember) => NodeJournal;
  reason: string;
  scan: ScanOptions;
  ca?: { cert: Certificate; key: KeyObject };
  api?: ApiAccess;
  /** What each node writes instead of its due kubelet certificates. */
  plan?: WorkerPlan;
  /** After a node's success (a rollout marks its journal done). */
  succeeded?: (m: ClusterMember, journal: NodeJournal, outcome: 'renewed' | 'unchanged') => Promise<void>;
}

/** Kubelet certificates renewed node by node in batches; the first batch with a failure stops it: that node. */
export async function renewKubeletsInBatches(
  op: Operation,
  b: KubeletBatches,
): Promise<{ member: ClusterMember; result: NodeRenewalOutcome } | undefined> {
  const cps = b.members.filter((m) => m.node.role === 'control-plane');
  const workers = b.members.filter((m) => m.node.role !== 'control-plane');
  const batches = [
    ...cps.map((m) => [m]),
    ...Array.from({ length: Math.ceil(workers.length / b.batchSize) }, (_, i) => workers.slice(i * b.batchSize, (i + 1) * b.batchSize)),
  ];
  for (const batch of batches) {
    const results = await Promise.all(
      batch.map(async (member) => {
        const journal = b.journalOf(member);
        const result = await renewWorker(member.node, member.host, {
          scan: b.scan,
          events: op.events,
          report: op.entry(member.node.name),
          journal,
          reason: b.reason,
          ca: b.ca,
          api: b.api,
          plan: b.plan,
        });
        if ((result.outcome === 'renewed' || result.outcome === 'unchanged') && b.succeeded)
          await b.succeeded(member, journal, result.outcome);
        op.events.finished(member.node.name, result.outcome, 'detail' in result ? result.detail : undefined);
        return { member, result };
      }),
    );
    const bad = results.find((r) => r.result.outcome === 'failed' || r.result.outcome === 'rolled-back');
    if (bad) return bad;
  }
  return undefined;
}

/** A journal kept in memory only: operations that are simply run again (recover -i, kubelet renew -i). */
export function memoryJournal(
  m: ClusterMember,
  op: Operation,
  operation: RolloutJournal['operation'],
  settings: RolloutSettings,
): NodeJournal {
  return new NodeJournal(
    m.host,
    {
      rollout: op.report.rollout ?? '',
      operation,
      startedAt: op.report.startedAt,
      by: operatorName(),
      settings,
      nodes: [],
      node: m.node.name,
      step: 'pending',
      updatedAt: '',
    },
    false,
  );
}

/** --update-kubeconfig: the renewed admin.conf of a control-plane node into the operator's kubeconfig. */
export async function updateOperatorKubeconfig(
  op: Operation,
  cps: ClusterMember[],
  scan: ScanOptions,
  update?: (adminConf: string, from: string) => Promise<string[]>,
): Promise<void> {
  if (!update) return;
  const admin = await adminAccess(cps, scan);
  if (admin) for (const line of await update(admin.text, admin.from)) op.events.log(line);
  else op.events.log('--update-kubeconfig: no control-plane node has an admin.conf: nothing to update');
}
