// What an interrupted rollout's journal means for the run asked for (pure, so every case is tested on its own): for a
// rotation phase, and for renew -i (and san -i, import -i: the same rollout): go on, resume it, nothing to do, or a
// refusal that names the command that goes on. A rollout is only ever resumed by the command that started it.
import type { Phase } from '../../kubeadm/ca-trust.js';

/** The part of an interrupted rollout's journal the decision reads. */
export interface InterruptedRotation {
  rollout: string;
  operation: string;
  startedAt: string;
  by: string;
  /** Set when the interrupted rollout was a rotation. */
  rotation?: { ca: string; phase: Phase };
}

/**
 * What an interrupted rollout's journal means for `ca rotate --ca CA --phase PHASE`: go on (no journal), resume it,
 * nothing to do (the rotation is past this phase), or a refusal with its exit code and the command that goes on.
 */
export type JournalDecision =
  | { kind: 'start' }
  | { kind: 'resume'; rollout: string }
  | { kind: 'past'; message: string }
  | { kind: 'refused'; message: string };

/** The phases in the order a rotation takes them. */
export const PHASE_ORDER: Phase[] = ['trust', 'issue', 'verify', 'finish'];

export function journalDecision(
  journal: InterruptedRotation | undefined,
  asked: { ca: string; phase: Phase; resume: boolean },
): JournalDecision {
  if (!journal) return { kind: 'start' };
  const rotation = journal.rotation;
  if (journal.operation !== 'ca rotate' || !rotation) return { kind: 'refused', message: finishFirst(journal) };
  if (rotation.ca !== asked.ca)
    return {
      kind: 'refused',
      message: `An interrupted rotation of ${rotation.ca} (${rotation.phase} phase) left its journal: finish it first (kpki ca rotate --ca ${rotation.ca} --phase ${rotation.phase} --resume).`,
    };
  if (PHASE_ORDER.indexOf(rotation.phase) > PHASE_ORDER.indexOf(asked.phase))
    return {
      kind: 'past',
      message: `The interrupted rotation is past the ${asked.phase} phase (its ${rotation.phase} phase is to be resumed).`,
    };
  if (rotation.phase !== asked.phase)
    return {
      kind: 'refused',
      message: `The ${rotation.phase} phase of this rotation was interrupted: resume it first (--phase ${rotation.phase} --resume).`,
    };
  if (!asked.resume)
    return {
      kind: 'refused',
      message: `The ${rotation.phase} phase of rollout ${journal.rollout} (started ${journal.startedAt} by ${journal.by}) was interrupted: continue it with --resume.`,
    };
  return { kind: 'resume', rollout: journal.rollout };
}

/** The refusal for a journal another command left: that command, with --resume, finishes it first. */
function finishFirst(journal: InterruptedRotation): string {
  const command = journal.rotation
    ? `kpki ca rotate --ca ${journal.rotation.ca} --phase ${journal.rotation.phase} --resume`
    : `kpki ${journal.operation} -i ... --resume`;
  return `An interrupted ${journal.operation} rollout ${journal.rollout} left its journal on the nodes: finish it first (${command}).`;
}

/**
 * What an interrupted rollout's journal means for `renew -i` (san -i and import -i run the same rollout): start (no
 * journal), resume it (--resume), nothing to resume, or a refusal: a rollout another command left (it finishes its
 * own), one not resumed without --resume, one that also covers nodes left out of this run.
 */
export type ResumeDecision =
  | { kind: 'start' }
  | { kind: 'resume' }
  | { kind: 'nothing-to-resume'; message: string }
  | { kind: 'refused'; message: string };

export function renewResumeDecision(
  journal: (InterruptedRotation & { nodes: string[] }) | undefined,
  asked: { resume: boolean; nodes: string[]; journalsOn: string[] },
): ResumeDecision {
  if (!journal)
    return asked.resume
      ? { kind: 'nothing-to-resume', message: 'No interrupted rollout on these nodes: nothing to resume.' }
      : { kind: 'start' };
  if (journal.operation !== 'renew') return { kind: 'refused', message: finishFirst(journal) };
  if (!asked.resume)
    return {
      kind: 'refused',
      message: `An interrupted rollout ${journal.rollout} (started ${journal.startedAt} by ${journal.by}) left its journal on ${asked.journalsOn.join(', ')}: continue it with --resume.`,
    };
  const missing = journal.nodes.filter((n) => !asked.nodes.includes(n));
  if (missing.length)
    return {
      kind: 'refused',
      message: `Rollout ${journal.rollout} also covers ${missing.join(', ')}: resume it with the same nodes (--nodes ${journal.nodes.join(',')}).`,
    };
  return { kind: 'resume' };
}
