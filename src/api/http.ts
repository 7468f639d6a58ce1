// One HTTP(S) GET with a timeout and optional client certificate; TLS failures become readable reasons.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';

export interface GetOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Skip server certificate verification (the kubelet's probes do). */
  insecure?: boolean;
  timeoutMs?: number;
  /** Open the TCP connection from the node instead (an SSH tunnel): its 127.0.0.1 is not ours. */
  via?: Dial;
  /** Extra request headers (a bearer token). */
  headers?: Record<string, string>;
  /** The largest body read (default 64 MiB: a NodeList of thousands of real Node objects); more is an error. */
  maxBodyBytes?: number;
}

export const DEFAULT_MAX_BODY_BYTES = 64 << 20;

/**
 * A TCP connection opened elsewhere (from a node over SSH). `timeoutMs` bounds the connect itself: the dialer's own
 * waiting (a free SSH session, a relay starting) is not the component's time and is bounded by the dialer.
 */
export type Dial = (host: string, port: number, timeoutMs: number) => Promise<Duplex>;

export interface GetResult {
  status: number;
  body: string;
}

const TLS_REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'the serving certificate has expired',
  CERT_NOT_YET_VALID: 'the serving certificate is not valid yet',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the serving certificate is not signed by the expected CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the serving certificate is not signed by the expected CA',
  SELF_SIGNED_CERT_IN_CHAIN: 'the serving certificate chains to an unknown CA',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the serving certificate is self-signed',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the serving certificate does not name this address',
  ECONNREFUSED: 'connection refused (not listening)',
  ECONNRESET: 'connection reset (TLS handshake refused?)',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'the server refused the client certificate (TLS alert: bad certificate)',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "the server does not trust the client certificate's CA (TLS alert: unknown CA)",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'the server wants a client certificate (TLS alert: certificate required)',
};

export function describeNetworkError(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const reason = e.code ? TLS_REASONS[e.code] : undefined;
  // (OpenSSL's own messages run over lines: one line, whatever it is)
  return reason
    ? `${reason}${e.code === 'ERR_TLS_CERT_ALTNAME_INVALID' && e.reason ? ` (${e.reason})` : ''}`
    : e.message.replace(/\s*\n\s*/g, ' ').trim();
}

export function httpGet(url: string, options: GetOptions = {}): Promise<GetResult> {
  return httpRequest('GET', url, options);
}

/** GET or POST (a JSON body), same options and errors as httpGet. */
export async function httpRequest(
  method: 'GET' | 'POST' | 'PUT',
  url: string,
  options: GetOptions & { body?: unknown } = {},
): Promise<GetResult> {
  const u = new URL(url);
  const timeoutMs = options.timeoutMs ?? 3000;
  const socket = options.via ? await dialed(u, options, timeoutMs) : undefined;
  return new Promise((resolvePromise, rejectPromise) => {
    // Settled once, by whatever comes first. Until the answer's headers, a timer of its own bounds the request: the
    // socket's idle timeout does not run on a stream from a node (an SSH channel), and a stream closed under the
    // request (the component stopping) may end it with no event at all; the promise would then wait for ever.
    let settled = false;
    let answered = false;
    const settle =
      <T>(fn: (value: T) => void) =>
      (value: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        fn(value);
      };
    const resolve = settle(resolvePromise);
    const reject = settle(rejectPromise);
    const deadline = setTimeout(() => {
      reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      req.destroy();
    }, timeoutMs);
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = clientRequest(method, u, options, timeoutMs, body, socket, (res) => {
      answered = true;
      clearTimeout(deadline); // (the body may take longer than the answer: it is bounded by its size and idle time)
      readBody(res, u, options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, resolve, reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    // a node's stream that is already closed (or closes with no error) ends the request with no answer
    socket?.once('close', () => {
      if (!answered) reject(Object.assign(new Error(`${u.host}: the connection closed before an answer`), { code: 'ECONNRESET' }));
    });
    req.end(body);
  });
}

/** The request: over the node's stream when there is one (its TLS already on it), else a connection of its own. */
function clientRequest(
  method: string,
  u: URL,
  options: GetOptions,
  timeoutMs: number,
  body: string | undefined,
  socket: Duplex | undefined,
  onResponse: (res: http.IncomingMessage) => void,
): http.ClientRequest {
  const headers = {
    ...(options.headers ?? {}),
    ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }),
  };
  if (socket)
    // the TLS (if any) is already on the socket: plain http over it, the URL only for host and path
    return http.request(
      {
        hostname: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        method,
        headers: { ...headers, host: u.host },
        createConnection: () => socket,
        timeout: timeoutMs,
      },
      onResponse,
    );
  if (u.protocol === 'https:')
    return https.request(
      u,
      {
        method,
        headers,
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        rejectUnauthorized: !options.insecure,
        agent: false,
        timeout: timeoutMs,
      },
      onResponse,
    );
  return http.request(u, { method, headers, agent: false, timeout: timeoutMs }, onResponse);
}

/** The whole body (real API objects are large: managedFields, images, conditions), up to a bound. */
function readBody(
  res: http.IncomingMessage,
  u: URL,
  limit: number,
  resolve: (result: GetResult) => void,
  reject: (err: Error) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  res.on('data', (c: Buffer) => {
    size += c.length;
    if (size > limit) {
      reject(
        Object.assign(new Error(`${u.origin}${u.pathname}: the answer is larger than ${limit} bytes; not reading it`), { code: 'E2BIG' }),
      );
      res.destroy();
      return;
    }
    chunks.push(c);
  });
  res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
  res.on('error', reject);
  res.on('close', () => {
    if (!res.complete) reject(Object.assign(new Error(`${u.origin}${u.pathname}: the answer ended early`), { code: 'ECONNRESET' }));
  });
}

/** A connection opened from the node (and TLS on it for https), with the same verification as a direct one. */
async function dialed(u: URL, options: GetOptions, timeoutMs: number): Promise<Duplex> {
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  const raw = await options.via!(host, port, timeoutMs);
  if (u.protocol !== 'https:') return socketLike(raw);
  return tlsHandshake(
    {
      socket: raw,
      host,
      servername: /^[\d.]+$|:/.test(host) ? undefined : host,
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      rejectUnauthorized: !options.insecure,
    },
    timeoutMs,
    `${host}:${port}`,
  );
}

/**
 * One TLS handshake (over `options.socket`, a node's stream, when given), settled once: the handshake, an error, a
 * close before it (a stream destroyed under it emits no error), or its own timer, which rejects by itself (destroying
 * a socket already closed emits nothing). A stream under it is closed with it: a TLS socket ends its own side only,
 * and the stream (an SSH channel, a relay's connection, each maybe one of the node's few sessions) would stay open.
 */
export function tlsHandshake(options: tls.ConnectionOptions, timeoutMs: number, where: string): Promise<tls.TLSSocket> {
  const raw = options.socket;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err);
      socket.destroy();
    };
    const socket = tls.connect(options, () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(socket);
    });
    const timer = setTimeout(
      () => fail(Object.assign(new Error(`no TLS handshake within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
    socket.once('close', () => {
      raw?.destroy();
      fail(Object.assign(new Error(`${where}: the connection closed during the TLS handshake`), { code: 'ECONNRESET' }));
    });
    socket.once('error', fail);
    if (raw?.destroyed) fail(Object.assign(new Error(`${where}: the connection closed before the TLS handshake`), { code: 'ECONNRESET' }));
  });
}

/** What http's client calls on a socket, for a plain stream (an SSH channel); the request's own timer still runs. */
function socketLike(stream: Duplex): Duplex {
  const s = stream as Duplex & Record<string, unknown>;
  for (const name of ['setTimeout', 'setNoDelay', 'setKeepAlive', 'ref', 'unref'])
    if (typeof s[name] !== 'function') s[name] = () => stream;
  return stream;
}

export { withTimeout } from '../util/timeout.js';
