// What a rollout tells while it runs (events) and what it leaves behind (a report: what changed on which node, old
// and new expiry). Plain data: the CLI renders it as a live view, plain lines or JSON.
import type { RenewalPlan } from '../node/renew/index.js';
import type { Component } from '../service/health.js';
import type { NodeRole } from './inventory/model.js';

export type NodeOutcome = 'pending' | 'running' | 'renewed' | 'unchanged' | 'rolled-back' | 'failed' | 'not-touched' | 'unreachable';

export interface CertificateChange {
  name: string;
  oldNotAfter?: string;
  newNotAfter?: string;
}

export interface NodeReport {
  node: string;
  address: string;
  role: NodeRole;
  outcome: NodeOutcome;
  step?: string;
  startedAt?: string;
  durationMs?: number;
  backup?: string;
  certificates: CertificateChange[];
  /** What the plan said before anything was changed (the JSON report keeps it beside what was done). */
  planned?: CertificateChange[];
  /** The gates this node passed or failed, in order. */
  gates?: GateResult[];
  reloaded: Component[];
  restarted: Component[];
  /** Done by a run before --resume. */
  resumed?: boolean;
  detail?: string;
}

/** continues: the first step of a phase is done, and the phase is planned and run again (ca rotate's trust). */
export type RolloutResult = 'complete' | 'continues' | 'nothing-to-do' | 'dry-run' | 'refused' | 'stopped' | 'interrupted';

/**
 * Why an operation refused to start (nothing was changed): something in the cluster stands in the way now (blocked:
 * fix it and run again), what was asked cannot be done on this cluster (invalid: change the command), the operator
 * said no (declined), or there was no terminal to ask on and no --yes (no-terminal). cli/exit-codes.ts maps each to
 * its exit code.
 */
export type Refusal = 'blocked' | 'invalid' | 'declined' | 'no-terminal';

export interface RolloutReport {
  kind: 'KpkiRolloutReport';
  apiVersion: 'kpki.io/v1';
  rollout?: string;
  operation: 'renew' | 'recover' | 'kubelet renew' | 'ca rotate';
  startedAt: string;
  finishedAt?: string;
  result?: RolloutResult;
  /** With result `refused`: why (the exit code follows from it). */
  refusal?: Refusal;
  resumed: boolean;
  nodes: NodeReport[];
  /** Why it stopped or was refused, what to do next. */
  messages: string[];
}

/** What one node needs, found before anything changes: data, rendered by `report/`. */
export interface NodePlan {
  node: string;
  address: string;
  role: NodeRole;
  /** Certificates already expired (recovery), with how long ago. */
  expired?: { name: string; agoMs: number }[];
  /** A control-plane node's renewal plan. */
  plan?: RenewalPlan;
  /** A node's kubelet certificates: the client certificate (signed by the cluster CA) and the serving one. */
  kubelet?: { client?: { commonName?: string; notAfter: Date }; clientDue: boolean; servingDue?: { notAfter: Date } };
}

/** A health gate after a node: the node's own, the cluster's, or the node Ready again after its kubelet's renewal. */
export interface GateResult {
  gate: 'node' | 'cluster' | 'node Ready';
  after: string;
  ok: boolean;
  problems: string[];
}

/** The live part: the CLI shows it as a table on a terminal, as timestamped lines otherwise. */
export interface RolloutEvents {
  /** What a node needs, before anything changes. */
  planned(plan: NodePlan): void;
  /** A gate's verdict after a node. */
  gated(result: GateResult): void;
  /** A node starts a step ("backup + write", "restart kube-apiserver", "cluster gate", ...). */
  step(node: string, step: string): void;
  /** A node is finished with this outcome. */
  finished(node: string, outcome: NodeOutcome, detail?: string): void;
  /** A line of detail (restart progress, notes), of one node or of the rollout. */
  log(line: string, node?: string): void;
}

export function newReport(
  operation: RolloutReport['operation'],
  nodes: { name: string; address: string; role: NodeRole }[],
): RolloutReport {
  return {
    kind: 'KpkiRolloutReport',
    apiVersion: 'kpki.io/v1',
    operation,
    startedAt: new Date().toISOString(),
    resumed: false,
    nodes: nodes.map((n) => ({
      node: n.name,
      address: n.address,
      role: n.role,
      outcome: 'pending',
      certificates: [],
      reloaded: [],
      restarted: [],
    })),
    messages: [],
  };
}

/** Events that also keep the report up to date. */
export function tracking(report: RolloutReport, events: RolloutEvents): RolloutEvents {
  const entry = (node: string) => report.nodes.find((n) => n.node === node);
  const started = new Map<string, number>();
  return {
    step(node, step) {
      const e = entry(node);
      if (e) {
        if (!started.has(node)) {
          started.set(node, Date.now());
          e.startedAt = new Date().toISOString();
        }
        e.step = step;
        if (e.outcome === 'pending') e.outcome = 'running';
      }
      events.step(node, step);
    },
    finished(node, outcome, detail) {
      const e = entry(node);
      if (e) {
        e.outcome = outcome;
        e.detail = detail ?? e.detail;
        if (started.has(node)) e.durationMs = Date.now() - started.get(node)!;
      }
      events.finished(node, outcome, detail);
    },
    planned(p) {
      const e = entry(p.node);
      if (e && p.plan)
        e.planned = p.plan.items.map((i) => ({
          name: i.name,
          oldNotAfter: i.oldNotAfter.toISOString(),
          newNotAfter: i.newNotAfter.toISOString(),
        }));
      if (e && p.kubelet?.clientDue)
        e.planned = [...(e.planned ?? []), { name: 'kubelet-client', oldNotAfter: p.kubelet.client?.notAfter.toISOString() }];
      if (e && p.kubelet?.servingDue)
        e.planned = [...(e.planned ?? []), { name: 'kubelet-serving', oldNotAfter: p.kubelet.servingDue.notAfter.toISOString() }];
      events.planned(p);
    },
    gated(g) {
      const e = entry(g.after);
      if (e) e.gates = [...(e.gates ?? []), g];
      events.gated(g);
    },
    log: (line, node) => events.log(line, node),
  };
}

export interface Operation {
  report: RolloutReport;
  events: RolloutEvents;
  entry: (node: string) => NodeReport;
  /** Ends the operation: its result and its closing messages (also logged). */
  finish: (result: Exclude<RolloutResult, 'refused'>, ...messages: string[]) => { report: RolloutReport };
  /** Ends the operation before any change: why, and the closing messages. */
  refuse: (why: Refusal, ...messages: string[]) => { report: RolloutReport };
}

/** What every cluster operation starts with: its report, events that keep it up to date, and how it ends. */
export function startOperation(
  operation: RolloutReport['operation'],
  nodes: { name: string; address: string; role: NodeRole }[],
  live: RolloutEvents,
): Operation {
  const report = newReport(operation, nodes);
  const events = tracking(report, live);
  const end = (result: RolloutResult, messages: string[]) => {
    report.result = result;
    report.finishedAt = new Date().toISOString();
    report.messages.push(...messages);
    for (const m of messages) events.log(m);
    return { report };
  };
  return {
    report,
    events,
    entry: (name) => report.nodes.find((n) => n.node === name)!,
    finish: (result, ...messages) => end(result, messages),
    refuse: (why, ...messages) => {
      report.refusal = why;
      return end('refused', messages);
    },
  };
}

/**
 * One report for a phase run in two steps (result `continues`, then the phase again): each node's changes, restarts
 * and gates of both steps, the second's outcome unless only the first changed the node.
 */
export function mergeSteps(first: RolloutReport, second: RolloutReport): RolloutReport {
  const nodes = second.nodes.map((n) => {
    const earlier = first.nodes.find((e) => e.node === n.node);
    if (!earlier) return n;
    return {
      ...n,
      outcome: n.outcome === 'unchanged' && earlier.outcome === 'renewed' ? earlier.outcome : n.outcome,
      startedAt: earlier.startedAt ?? n.startedAt,
      durationMs: earlier.durationMs === undefined ? n.durationMs : earlier.durationMs + (n.durationMs ?? 0),
      backup: n.backup ?? earlier.backup,
      certificates: [...earlier.certificates, ...n.certificates],
      gates: [...(earlier.gates ?? []), ...(n.gates ?? [])],
      reloaded: [...earlier.reloaded, ...n.reloaded],
      restarted: [...earlier.restarted, ...n.restarted],
    };
  });
  return { ...second, startedAt: first.startedAt, nodes, messages: [...first.messages, ...second.messages] };
}
