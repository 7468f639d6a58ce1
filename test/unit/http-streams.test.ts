// A probe through a node's stream (an SSH channel or a relay) always ends, an HTTP(S) request as much as a look at a
// served certificate: every way such a stream can fail under a
// request (closed before or during the TLS handshake with no error, silent, ended) rejects within the probe's timeout.
// Found live: a rollout waited for ever in waitDown on a component that stopped during a probe's handshake (the
// channel closed with no error, the TLS socket with it, and the timer's destroy() then emitted nothing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { httpGet } from '../../src/api/http.js';
import { servedCertificate } from '../../src/service/served.js';

/** A stream that swallows what is written and says nothing. */
const sink = () =>
  new Duplex({
    read() {},
    write(_chunk, _encoding, done) {
      done();
    },
  });

const FAILURES: Record<string, () => Duplex> = {
  'closed before the request': () => {
    const d = sink();
    d.destroy();
    return d;
  },
  'closed at once, no error and no end': () => {
    const d = sink();
    setTimeout(() => d.destroy(), 5);
    return d;
  },
  'closed a little later': () => {
    const d = sink();
    setTimeout(() => d.destroy(), 60);
    return d;
  },
  'ended by the other side': () => {
    const d = sink();
    setTimeout(() => d.push(null), 5);
    return d;
  },
  silent: sink,
};

for (const scheme of ['https', 'http'])
  test(`${scheme} through a node's stream: every failure of the stream rejects within the timeout`, async () => {
    for (const [name, make] of Object.entries(FAILURES)) {
      const started = Date.now();
      const outcome = await Promise.race([
        httpGet(`${scheme}://127.0.0.1:10257/healthz`, { insecure: true, timeoutMs: 300, via: async () => make() }).then(
          () => 'answered',
          (err: Error) => `rejected: ${err.message}`,
        ),
        new Promise<string>((resolve) => setTimeout(() => resolve('no end'), 3000).unref()),
      ]);
      assert.match(outcome, /^rejected: /, `${scheme}, ${name}: ${outcome}`);
      assert.ok(Date.now() - started < 1500, `${scheme}, ${name}: took ${Date.now() - started} ms`);
    }
  });

test("the certificate an endpoint serves, looked at through a node's stream: every failure of the stream rejects within the timeout", async () => {
  for (const [name, make] of Object.entries(FAILURES)) {
    const started = Date.now();
    const outcome = await Promise.race([
      servedCertificate('127.0.0.1', 2379, undefined, 300, async () => make()).then(
        () => 'answered',
        (err: Error) => `rejected: ${err.message}`,
      ),
      new Promise<string>((resolve) => setTimeout(() => resolve('no end'), 3000).unref()),
    ]);
    assert.match(outcome, /^rejected: /, `${name}: ${outcome}`);
    assert.ok(Date.now() - started < 1500, `${name}: took ${Date.now() - started} ms`);
  }
});

test('an answer whose stream closes right after it (no end) is still the answer: the guards never reject what arrived', async () => {
  const answering = () => {
    const d = new Duplex({
      read() {},
      write(_chunk, _encoding, done) {
        done();
        d.push('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
        setImmediate(() => d.destroy());
      },
    });
    return d;
  };
  const result = await httpGet('http://127.0.0.1:10257/healthz', { timeoutMs: 1000, via: async () => answering() });
  assert.deepEqual(result, { status: 200, body: 'ok' });
});
