// A CA rotation phase as a rollout node's writes: what the node's files say is left of the phase (node/ca-rotation),
// with the components that must restart to read a changed bundle (service/into-service restarts them).
import type { Host } from '../hosts/host.js';
import type { RotatableCa } from '../kubeadm/ca-trust.js';
import { planPhase, rotationState, WritingPhase } from '../node/rotation/index.js';
import type { NodeScan } from '../node/scan/index.js';
import type { NewSigner } from '../node/rotation/index.js';
import type { PlannedWrites } from './rollout/journaled-write.js';

export async function caPhaseWrites(
  host: Host,
  scan: NodeScan,
  rotation: { ca: RotatableCa; phase: WritingPhase },
  nextCa?: NewSigner,
): Promise<PlannedWrites | undefined> {
  if (rotation.phase === 'trust' && !nextCa) throw new Error('the trust phase needs the new CA');
  const state = await rotationState(host, scan, rotation.ca);
  // (a rollout restarts between steps: a signer moves to its own file before its CA file becomes a bundle)
  const planned = await planPhase(host, scan, state, rotation.phase, nextCa, { signerFirst: true });
  if (!planned) return undefined;
  return { writes: planned.writes, changes: planned.changes, restart: planned.restart };
}
