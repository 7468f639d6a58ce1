// The new signer of a rotation's trust phase, for a CA (certificate and key) and the service-account key pair alike:
// the one an earlier trust phase left waiting on the node, one the operator gave, or one made here in memory.
import { keyAlgorithmOf } from '../../pki/keys.js';
import { keyFingerprint, serviceAccountKeyId, successorKey } from '../../pki/public-keys.js';
import { successorCa, unfitSuccessor } from '../../pki/successor-ca.js';
import type { Host } from '../../hosts/host.js';
import { CaRotationState, certificateId, RotationState, waitingCa } from './ca-rotation.js';
import type { NewSigner } from './common.js';
import { waitingKey } from './sa-rotation.js';

/** What a trust phase left waiting on this node (undefined: nothing). A waiting CA without its key fails, naming it. */
export async function waitingSigner(host: Host, state: RotationState): Promise<NewSigner | undefined> {
  return state.kind === 'key' ? waitingKey(state) : waitingCa(host, state);
}

/** Why the operator's new signer cannot take over from the node's, or undefined. */
export function unfitSigner(state: RotationState, given: NewSigner): string | undefined {
  if (state.kind === 'ca') {
    if (!given.cert) return 'a new CA needs its certificate (--new-ca-cert) as well as its key';
    return unfitSuccessor({ cert: given.cert, key: given.key }, state.certs[0]);
  }
  if (given.cert) return 'the service-account key pair has no certificate: give only --new-ca-key';
  if (given.key.type !== 'private') return 'the new service-account key must be a private key';
  const id = keyFingerprint(given.key);
  if (id === state.signerId) return 'it is the key in use';
  if (state.keys.some((k) => keyFingerprint(k) === id)) return `${state.files.certPath} already verifies with it (an old key)`;
  return undefined;
}

/** A new signer made in memory, like the old one, and how it was made (for the log). */
export async function madeSigner(states: RotationState[]): Promise<{ signer: NewSigner; how: string }> {
  const first = states[0];
  if (first.kind === 'key') {
    const key = await successorKey(first.signer);
    return { signer: { key }, how: `made in memory (${keyAlgorithmOf(first.signer)}, as the old key)` };
  }
  const old = first.certs[0];
  // a CA or leaves without key identifiers: a name of its own, so no verifier mistakes one CA for the other
  const distinctName = states.some((s) => (s as CaRotationState).needsDistinctName);
  const name = distinctName ? 'a name of its own (the old CA or its leaves lack key identifiers)' : 'the same subject';
  const type = old.publicKey.asymmetricKeyType?.toUpperCase();
  return {
    signer: await successorCa(old, { distinctName }),
    how: `made in memory (${name}, the old key type ${type}, valid 10 years)`,
  };
}

/** One line naming the new signer. */
export function describeSigner(ca: string, s: NewSigner): string {
  if (s.cert) return `New ${ca}: ${s.cert.subject}, valid until ${s.cert.notAfter.toISOString()}, SHA-256 ${s.cert.native.fingerprint256}`;
  return `New service-account key: ${keyAlgorithmOf(s.key)}, key ID ${serviceAccountKeyId(s.key)}`;
}

/** The identity the nodes' states use for a signer (see StageView). */
export const signerId = (s: NewSigner): string => (s.cert ? certificateId(s.cert) : keyFingerprint(s.key));
