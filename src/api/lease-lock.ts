// The in-cluster agent's lock: a coordination.k8s.io Lease (as leader election uses), taken only when it is free or
// its holder stopped renewing it, updated with the resourceVersion it was read at (a race loses with 409 Conflict),
// renewed while the renewal runs, and given up at the end.
import { hostname } from 'node:os';
import type { HeldLock, LockAttempt } from '../util/cluster-lock.js';
import { apiRequest, ApiAccess } from './client.js';

export interface LeaseOptions {
  namespace: string;
  name: string;
  holder: string;
  durationSeconds: number;
}

interface Lease {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const microTime = () => new Date().toISOString().replace(/Z$/, '000Z');

export async function tryLeaseLock(api: ApiAccess, o: LeaseOptions): Promise<LockAttempt> {
  const path = `/apis/coordination.k8s.io/v1/namespaces/${o.namespace}/leases`;
  const holder = `${o.holder} (pid ${process.pid} on ${hostname()})`;
  const spec = () => ({
    holderIdentity: holder,
    leaseDurationSeconds: o.durationSeconds,
    acquireTime: microTime(),
    renewTime: microTime(),
  });
  const current = await apiRequest(api, 'GET', `${path}/${o.name}`);
  let lease: Lease;
  if (current.status === 404) {
    const created = await apiRequest(api, 'POST', path, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: o.name, namespace: o.namespace },
      spec: { ...spec(), leaseTransitions: 0 },
    });
    if (created.status === 409) return { acquired: false, heldBy: 'another node (it created the lease first)' };
    if (created.status !== 201 && created.status !== 200)
      throw new Error(`create lease ${o.namespace}/${o.name}: HTTP ${created.status}: ${created.body.slice(0, 200)}`);
    lease = created.json as unknown as Lease;
  } else {
    if (current.status !== 200)
      throw new Error(`get lease ${o.namespace}/${o.name}: HTTP ${current.status}: ${current.body.slice(0, 200)}`);
    const existing = current.json as unknown as Lease;
    const renewed = Date.parse(existing.spec.renewTime ?? '') || 0;
    const live = existing.spec.holderIdentity && renewed + (existing.spec.leaseDurationSeconds ?? 0) * 1000 > Date.now();
    if (live) return { acquired: false, heldBy: String(existing.spec.holderIdentity) };
    const taken = await apiRequest(api, 'PUT', `${path}/${o.name}`, {
      ...existing,
      spec: { ...spec(), leaseTransitions: (existing.spec.leaseTransitions ?? 0) + 1 },
    });
    if (taken.status === 409) return { acquired: false, heldBy: 'another node (it took the lease first)' };
    if (taken.status !== 200) throw new Error(`update lease ${o.namespace}/${o.name}: HTTP ${taken.status}: ${taken.body.slice(0, 200)}`);
    lease = taken.json as unknown as Lease;
  }
  const renew = async () => {
    const r = await apiRequest(api, 'PUT', `${path}/${o.name}`, { ...lease, spec: { ...lease.spec, renewTime: microTime() } });
    if (r.status === 200) lease = r.json as unknown as Lease;
  };
  const timer = setInterval(() => void renew().catch(() => undefined), Math.max(1000, (o.durationSeconds * 1000) / 3));
  timer.unref();
  const lock: HeldLock = {
    holder,
    release: async () => {
      clearInterval(timer);
      const r = await apiRequest(api, 'PUT', `${path}/${o.name}`, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: null, renewTime: microTime() },
      });
      if (r.status !== 200) throw new Error(`release lease ${o.namespace}/${o.name}: HTTP ${r.status}`);
    },
  };
  return { acquired: true, lock };
}
