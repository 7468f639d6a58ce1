// Whether a set of control-plane nodes may take a writing phase of a rotation, decided from their stages alone (pure:
// no I/O, so every state is tested on its own). The cluster path (ca rotate -i) decides with it before it plans any
// node; a node's own files say the rest (planPhase refuses a phase its files are not ready for, naming the file).
import type { WritingPhase } from '../../kubeadm/ca-trust.js';
import type { StageView } from './common.js';

/** A node's stage as the decision needs it: the stage, what signs, what waits, and one line that describes it. */
export interface NodeStage extends Pick<StageView, 'node' | 'stage' | 'signerId' | 'nextId'> {
  /** A new signer waits beside the old one (a CA's `<name>-next`, the next service-account key). */
  nextWaiting: boolean;
  /** For refusals: the stage in words (describeStage). */
  described: string;
}

/** Go (to `target`, the signer the phase moves to, when one is known), nothing to do, or a refusal naming every node. */
export interface PhaseDecision {
  target?: string;
  done?: string;
  refusal?: string;
}

/** The signer a node is moving to: waiting beside the bundle, or already signing. */
export const targetOf = (s: NodeStage): string | undefined => s.nextId ?? (s.stage === 'issued' ? s.signerId : undefined);
const same = (a?: string, b?: string) => Boolean(a && b && a === b);

/** Is the cluster ready for this phase? The phase's target, or why not (every node's state named). */
export function phaseDecision(nodes: NodeStage[], phase: WritingPhase): PhaseDecision {
  const targets = nodes.map(targetOf);
  const first = targets.find(Boolean);
  const mixed = targets.some((t) => t && !same(t, first));
  const states = nodes.map((n) => `${n.node}: ${n.described}`).join('\n  ');
  if (mixed) return { refusal: `the control-plane nodes are moving to different new CAs:\n  ${states}` };
  const signers = nodes.filter((n) => n.stage !== 'issued').map((n) => n.signerId);
  if (phase === 'trust') {
    if (signers.some((s) => !same(s, signers[0])))
      return { refusal: `the nodes' CAs differ (a rotation must start from one CA):\n  ${states}` };
    if (
      nodes.every((n) => n.stage === 'issued' || (n.stage === 'trusted' && same(n.nextId, first))) &&
      nodes.some((n) => n.stage === 'issued')
    )
      return { done: 'the new CA already signs: the trust phase is behind this rotation' };
    return { target: first };
  }
  if (phase === 'issue') {
    if (nodes.some((n) => !targetOf(n) || (n.stage === 'single' && n.nextWaiting)))
      return {
        refusal: `every control-plane node must trust the new CA before any signs with it: run the trust phase first:\n  ${states}`,
      };
    return { target: first };
  }
  // finish: every node signs with the same new CA (or has finished with it)
  const news = nodes.map((n) => n.signerId);
  if (nodes.some((n) => n.stage === 'trusted') || news.some((c) => !same(c, news[0])))
    return { refusal: `the new CA must sign on every control-plane node first: run the issue phase:\n  ${states}` };
  if (nodes.every((n) => n.stage === 'single')) return { done: 'no bundle left: every node trusts one CA' };
  return { target: news[0] };
}
