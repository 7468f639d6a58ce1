// The session gate on its own (the lab's hardened sshd tests it end to end): a session request that sshd never
// answers ends in an error naming the node and what the session was for, its slot is freed, and a session that
// opens after that is closed at once. Found when a ca rotate hung for ten minutes on a MaxSessions 4 node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { type Opened, SessionGate, watched } from '../../src/hosts/ssh-sessions.js';

class FakeChannel extends EventEmitter {
  closedByKpki = false;
  close(): void {
    this.closedByKpki = true;
    this.emit('close');
  }
}

test('a session request sshd never answers fails within the open timeout, names the node and the session; its slot is free again', {
  timeout: 10_000,
}, async () => {
  const gate = new SessionGate('lab-cp3', 2, undefined, 200);
  let answer: ((c: FakeChannel) => void) | undefined;
  const started = Date.now();
  await assert.rejects(
    gate.session(() => new Promise<Opened<FakeChannel>>((resolve) => (answer = (c) => resolve(watched(c)))), 'a probe of 127.0.0.13:10259'),
    /lab-cp3: sshd did not answer a session request for a probe of 127\.0\.0\.13:10259 within 0\.2 s/,
  );
  assert.ok(Date.now() - started < 5000, 'bounded by the open timeout');
  // the late answer: closed at once, never handed out
  const late = new FakeChannel();
  answer!(late);
  await new Promise((r) => setImmediate(r));
  assert.equal(late.closedByKpki, true, 'a session that opens after its timeout is closed');
  // both slots are free: two sessions open at once without waiting
  const a = new FakeChannel();
  const b = new FakeChannel();
  const [oa, ob] = await Promise.all([gate.session(async () => watched(a), 'one'), gate.session(async () => watched(b), 'two')]);
  assert.equal(oa.channel, a);
  assert.equal(ob.channel, b);
});
