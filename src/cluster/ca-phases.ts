// The phases of `ca rotate --phase all` (or one phase) in order, whatever runs each one (a cluster phase over SSH):
// a phase that ran only its first step (`continues`: the cluster CA's signer moved to its own file) runs once more;
// the first phase that does not complete stops the rest; a dry run plans only the first phase with work, since the
// later ones depend on what it writes.
import type { Phase } from '../kubeadm/ca-trust.js';
import type { RolloutResult } from './outcome.js';

export interface PhaseRun {
  code: number;
  result?: RolloutResult;
}

export interface PhasesOutcome {
  code: number;
  /** A dry run stopped after this phase: the later ones are planned once it has run. */
  dryRunAfter?: Phase;
}

export async function runPhases(phases: Phase[], run: (phase: Phase) => Promise<PhaseRun>): Promise<PhasesOutcome> {
  const again = new Set<Phase>();
  for (let i = 0; i < phases.length; i++) {
    const phase = phases[i];
    const { code, result } = await run(phase);
    if (code !== 0) return { code };
    if (result === 'dry-run') return { code: 0, dryRunAfter: phase };
    if (result === 'continues') {
      if (again.has(phase)) continue; // (its first step ran twice: go on rather than loop)
      again.add(phase);
      i--; // the same phase once more, its first step done
    }
  }
  return { code: 0 };
}
