// A cluster-wide lock in the cluster's own etcd, so that renewal timers firing on every control-plane node at the
// same minute restart one node at a time, without any central server: a key under /kpki/ created only if absent
// (a transaction on its create revision), attached to a lease that kpki keeps alive while it works. If the holder
// dies, the lease runs out and the key goes with it.
import { hostname } from 'node:os';
import { httpRequest } from '../api/http.js';
import type { LockAttempt } from '../util/cluster-lock.js';

import type { EtcdCredentials } from '../service/etcd.js';

export const RENEW_LOCK_KEY = '/kpki/locks/control-plane-renewal';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString();

async function call(endpoint: string, path: string, body: unknown, creds: EtcdCredentials): Promise<Record<string, unknown>> {
  const res = await httpRequest('POST', `${endpoint}${path}`, { ...creds, body, timeoutMs: 5000 });
  if (res.status !== 200) throw new Error(`etcd ${endpoint}${path}: HTTP ${res.status}: ${res.body.trim().slice(0, 200)}`);
  return JSON.parse(res.body);
}

/** One try: the lock is ours, or somebody holds it (whom the key names). */
export async function tryEtcdLock(
  endpoint: string,
  creds: EtcdCredentials,
  o: { node: string; ttlSeconds?: number; key?: string },
): Promise<LockAttempt> {
  const key = o.key ?? RENEW_LOCK_KEY;
  const ttl = o.ttlSeconds ?? 60;
  const grant = await call(endpoint, '/v3/lease/grant', { TTL: ttl }, creds);
  const lease = String(grant.ID);
  const holder = `${o.node} (pid ${process.pid} on ${hostname()}, since ${new Date().toISOString()})`;
  const txn = await call(
    endpoint,
    '/v3/kv/txn',
    {
      compare: [{ target: 'CREATE', key: b64(key), create_revision: '0' }],
      success: [{ request_put: { key: b64(key), value: b64(holder), lease } }],
      failure: [{ request_range: { key: b64(key) } }],
    },
    creds,
  );
  if (!txn.succeeded) {
    await call(endpoint, '/v3/lease/revoke', { ID: lease }, creds).catch(() => undefined);
    const responses = (txn.responses ?? []) as { response_range?: { kvs?: { value?: string }[] } }[];
    return { acquired: false, heldBy: unb64(responses[0]?.response_range?.kvs?.[0]?.value) || 'unknown holder' };
  }
  // keep the lease alive well within its TTL; a keep-alive that fails is retried on the next tick
  const timer = setInterval(
    () => void call(endpoint, '/v3/lease/keepalive', { ID: lease }, creds).catch(() => undefined),
    Math.max(1000, (ttl * 1000) / 3),
  );
  timer.unref();
  return {
    acquired: true,
    lock: {
      holder,
      release: async () => {
        clearInterval(timer);
        await call(endpoint, '/v3/lease/revoke', { ID: lease }, creds);
      },
    },
  };
}
