// Exit codes, chosen in one place from what an operation reports (the README's "Exit codes" table): the layers below
// report results and refusals as data, never numbers.
import type { Refusal, RolloutReport, RolloutResult } from '../cluster/outcome.js';

/** 0: done (or nothing to do, or only planned); 1: stopped, interrupted, or refused for something to fix first. */
const RESULT_EXIT: Record<Exclude<RolloutResult, 'refused'>, number> = {
  complete: 0,
  continues: 0,
  'nothing-to-do': 0,
  'dry-run': 0,
  stopped: 1,
  interrupted: 1,
};

/** A refusal: 1 when the cluster must change first or the operator said no, 2 when the command must change. */
const REFUSAL_EXIT: Record<Refusal, number> = {
  blocked: 1,
  declined: 1,
  invalid: 2,
  'no-terminal': 2,
};

export function exitCodeOf(report: RolloutReport): number {
  if (report.result === 'refused') return REFUSAL_EXIT[report.refusal ?? 'blocked'];
  return report.result ? RESULT_EXIT[report.result] : 1;
}

/** The operator's answer to a confirmation (cli/context.ts confirm: 2 no terminal, 1 no), as a refusal. */
export function refusalOf(answer: number | undefined): Refusal | undefined {
  if (answer === undefined) return undefined;
  return answer === 2 ? 'no-terminal' : 'declined';
}
