// What a cluster-wide lock looks like to whoever takes it, whichever backs it (a key in etcd, a Lease in the API):
// held by us until released, or held by somebody it names.

export interface HeldLock {
  holder: string;
  /** Stops the keep-alive and gives the lock up: it is free at once. */
  release(): Promise<void>;
}

export type LockAttempt = { acquired: true; lock: HeldLock } | { acquired: false; heldBy: string };
