// What an interrupted rollout's journal means for the rotation phase asked for (pure, so every case is tested on its
// own): go on, resume it, nothing to do (the rotation is already past this phase), or a refusal that names the command
// that goes on.
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
  if (journal.operation !== 'ca rotate' || !rotation)
    return {
      kind: 'refused',
      message: `An interrupted ${journal.operation} rollout ${journal.rollout} left its journal on the nodes: finish it first (kpki ${journal.operation} -i ... --resume).`,
    };
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
