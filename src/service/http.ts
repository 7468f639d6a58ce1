// One HTTP(S) GET with a timeout and optional client certificate; TLS failures become readable reasons.
import http from 'node:http';
import https from 'node:https';

export interface GetOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Skip server certificate verification (the kubelet's probes do). */
  insecure?: boolean;
  timeoutMs?: number;
}

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
};

export function describeNetworkError(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const reason = e.code ? TLS_REASONS[e.code] : undefined;
  return reason ? `${reason}${e.code === 'ERR_TLS_CERT_ALTNAME_INVALID' && e.reason ? ` (${e.reason})` : ''}` : e.message;
}

export function httpGet(url: string, options: GetOptions = {}): Promise<GetResult> {
  return httpRequest('GET', url, options);
}

/** GET or POST (a JSON body), same options and errors as httpGet. */
export function httpRequest(method: 'GET' | 'POST', url: string, options: GetOptions & { body?: unknown } = {}): Promise<GetResult> {
  const u = new URL(url);
  const timeoutMs = options.timeoutMs ?? 3000;
  return new Promise((resolve, reject) => {
    const onResponse = (res: http.IncomingMessage) => {
      let body = '';
      res.on('data', (c) => (body = (body + c).slice(0, 4000)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    };
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req =
      u.protocol === 'https:'
        ? https.request(u, { method, headers, ca: options.ca, cert: options.cert, key: options.key, rejectUnauthorized: !options.insecure, agent: false, timeout: timeoutMs }, onResponse)
        : http.request(u, { method, headers, agent: false, timeout: timeoutMs }, onResponse);
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}
