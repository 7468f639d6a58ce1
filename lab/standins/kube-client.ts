// A client of the (stand-in) API server that authenticates the way client-go does with a kubeconfig:
// server CA from certificate-authority(-data), client certificate from client-certificate(-data) or a file.
import https from 'node:https';
import type tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseKubeconfig } from '../../src/kubeadm/kubeconfig.js';

export interface KubeCredentials {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export function loadKubeconfig(path: string): KubeCredentials {
  const identity = parseKubeconfig(readFileSync(path, 'utf8'));
  const file = (p: string | undefined) => (p ? readFileSync(resolve(dirname(path), p)) : undefined);
  if (!identity.server) throw new Error(`${path}: no server for the current context`);
  return {
    server: identity.server,
    ca: identity.certificateAuthorityData ?? file(identity.certificateAuthorityFile),
    cert: identity.clientCertificateData ?? file(identity.clientCertificateFile),
    key: identity.clientKeyData ?? file(identity.clientKeyFile),
  };
}

export interface KubeResponse {
  status: number;
  body: string;
}

/** One request; rejects on TLS/network errors (server certificate checked against the kubeconfig's CA). */
export function kubeRequest(
  creds: KubeCredentials,
  method: string,
  path: string,
  options: {
    body?: unknown;
    timeoutMs?: number;
    server?: string;
    agent?: https.Agent;
    headers?: Record<string, string>;
    /** A TLS connection already made (and judged) by the caller, for this one request. */
    socket?: tls.TLSSocket;
  } = {},
): Promise<KubeResponse> {
  const url = new URL(path, options.server ?? creds.server);
  const data = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolvePromise, reject) => {
    const req = https.request(
      url,
      {
        method,
        ca: creds.ca,
        cert: creds.cert,
        key: creds.key,
        ...(options.socket ? { agent: undefined, createConnection: () => options.socket } : { agent: options.agent ?? false }),
        timeout: options.timeoutMs ?? 3000,
        headers: { ...(data ? { 'content-type': 'application/json' } : {}), ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url.host}: timed out`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** A short reason for a failed call, as a status line would show it. */
export function describeFailure(result: KubeResponse | Error): string {
  if (result instanceof Error) return result.message;
  try {
    const status = JSON.parse(result.body);
    if (status.kind === 'Status') return `HTTP ${result.status} ${status.reason ?? ''}: ${status.message}`.trim();
  } catch {
    /* not JSON */
  }
  return `HTTP ${result.status}: ${result.body.slice(0, 200).trim()}`;
}
