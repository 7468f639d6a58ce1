// What "served throughout" means under the lab's load, in one place: no request of the balanced client (through the
// load balancer, retried on new connections) failed, no acknowledged write was lost, and each pinned client (one
// node's address only) lost no more than its node's restarts explain. A pinned client sends a request every 150 ms;
// one restart of kube-apiserver or etcd on its node costs it up to PER_RESTART failed requests (measured: about 6 for
// kube-apiserver, 10 to 15 for etcd, whose members resync), so a pinned count past that bound is a change that kept a
// node down longer than its restarts.
import assert from 'node:assert/strict';
import { type LoadReport, summarize } from '../../lab/load.js';

export const PER_RESTART = 20;

/**
 * `restarts`: restarts of kube-apiserver and etcd per control-plane node (the components a pinned client depends on),
 * the same on every node or per node address.
 */
export function assertServed(report: LoadReport, label: string, restarts: number | Record<string, number>): void {
  const failed = report.balanced.writes.failed + report.balanced.reads.failed;
  assert.equal(
    failed,
    0,
    `${label}: balanced requests failed: ${summarize(report)}; ${JSON.stringify(report.failures.filter((f) => f.client === 'balanced').slice(0, 5))}`,
  );
  assert.ok(report.balanced.writes.ok > 20, `${label}: the balanced client hardly ran: ${summarize(report)}`);
  assert.deepEqual(report.lostWrites, [], `${label}: acknowledged writes lost`);
  for (const [address, counts] of Object.entries(report.pinned)) {
    const n = typeof restarts === 'number' ? restarts : (restarts[address] ?? 0);
    assert.ok(
      counts.failed <= n * PER_RESTART,
      `${label}: the client pinned to ${address} lost ${counts.failed} requests, more than ${n} restart(s) explain (${n * PER_RESTART}): ${summarize(report)}`,
    );
  }
}
