// Where a certificate lives, one record per kind of place (kubeadm keeps this in one read-writer per storage kind):
// a PEM pair (kubeadm's pki/, Kubespray's etcd files), a kubeconfig with the credentials embedded, or the kubelet's
// one PEM behind its -current link. What reads, checks or backs up a certificate's files asks here; how each kind is
// written is its twin in renew/slot-writers.ts.
import type { Slot } from './result.js';

type SlotOf<K extends Slot['kind']> = Extract<Slot, { kind: K }>;

export interface SlotFile {
  path: string;
  /** A certificate (0644 or stricter) or anything holding a private key (0600 or stricter). */
  holds: 'certificate' | 'private';
}

export interface SlotFiles<S extends Slot> {
  /** Every file of the place, with what it holds (the key file only when the key is there). */
  files(slot: S, keyPresent: boolean): SlotFile[];
  /** The private key's own file, where it lives apart from the certificate. */
  keyPath(slot: S): string | undefined;
  /** Where a new key waits for the certificate an external CA signs (kpki csr); none where that cannot be done. */
  pendingKeyPath(slot: S): string | undefined;
}

export const SLOT_FILES: { [K in Slot['kind']]: SlotFiles<SlotOf<K>> } = {
  pair: {
    files: (slot, keyPresent) => [
      { path: slot.certPath, holds: 'certificate' },
      ...(keyPresent ? [{ path: slot.keyPath, holds: 'private' as const }] : []),
    ],
    keyPath: (slot) => slot.keyPath,
    pendingKeyPath: (slot) => `${slot.keyPath}.next`,
  },
  kubeconfig: {
    files: (slot) => [{ path: slot.path, holds: 'private' }],
    keyPath: () => undefined,
    pendingKeyPath: (slot) => `${slot.path}.key.next`,
  },
  combined: {
    // the kubelet's PEM holds certificate and key; the -current link is not a file of its own
    files: (slot) => [{ path: slot.filePath, holds: 'private' }],
    keyPath: (slot) => slot.linkPath,
    // the kubelet renews it itself (or kpki the kubelet's way): never through an external CA
    pendingKeyPath: () => undefined,
  },
};

/** The record for a slot (one cast here instead of a switch at every caller). */
export const slotFiles = <S extends Slot>(slot: S): SlotFiles<S> => SLOT_FILES[slot.kind] as unknown as SlotFiles<S>;
