// Which certificate a component serves right now: one TLS handshake, its serial compared with the file on the node.
// Used for the components that re-read their certificates by themselves (etcd per handshake, kube-apiserver's
// dynamic serving certificate): when they serve the renewed one, they need no restart.
import { X509Certificate } from 'node:crypto';
import type { Host } from '../hosts/host.js';
import type { Component, NodeServices } from './health.js';
import { type Dial, tlsHandshake } from '../api/http.js';
import { etcdClientFiles, etcdFlags } from './etcd-service.js';

interface Endpoint {
  what: string;
  host: string;
  port: number;
  certFile: string;
  /** A client certificate the endpoint asks for (etcd's peer and client ports). */
  client?: { cert: string; key: string };
}

function hostPort(url: string | undefined, fallbackPort: number): { host: string; port: number } | undefined {
  if (!url) return undefined;
  const u = new URL(url.split(',')[0]);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || fallbackPort) };
}

/** The TLS endpoints of a component and the certificate file each serves. */
export async function servedEndpoints(host: Host, services: NodeServices, component: Component): Promise<Endpoint[]> {
  if (component === 'etcd') {
    const f = etcdFlags(services);
    if (!f) return [];
    const files = await etcdClientFiles(host, services);
    const out: Endpoint[] = [];
    const client = hostPort(f.get('advertise-client-urls') ?? f.get('listen-client-urls'), 2379);
    if (client && f.get('cert-file'))
      out.push({
        what: 'etcd client port',
        ...client,
        certFile: f.get('cert-file')!,
        client: files && { cert: files.cert, key: files.key },
      });
    const peer = hostPort(f.get('initial-advertise-peer-urls') ?? f.get('listen-peer-urls'), 2380);
    if (peer && f.get('peer-cert-file'))
      out.push({
        what: 'etcd peer port',
        ...peer,
        certFile: f.get('peer-cert-file')!,
        client: { cert: f.get('peer-cert-file')!, key: f.get('peer-key-file') ?? '' },
      });
    return out;
  }
  const pod = services.pods.get(component);
  if (!pod) return [];
  const f = pod.flags;
  if (component === 'kube-apiserver' && f.get('tls-cert-file')) {
    return [
      {
        what: 'kube-apiserver',
        host: f.get('advertise-address') ?? '127.0.0.1',
        port: Number(f.get('secure-port') ?? 6443),
        certFile: f.get('tls-cert-file')!,
      },
    ];
  }
  return [];
}

/** The certificate an endpoint serves (DER), from one TLS handshake that trusts nothing (it only looks). */
export async function servedCertificate(
  host: string,
  port: number,
  client?: { cert: Buffer; key: Buffer },
  timeoutMs = 3000,
  via?: Dial,
): Promise<Buffer> {
  const raw = via ? await via(host, port, timeoutMs) : undefined;
  const socket = await tlsHandshake(
    {
      socket: raw,
      host,
      port,
      rejectUnauthorized: false,
      cert: client?.cert,
      key: client?.key,
      servername: /^[\d.:]+$/.test(host) ? undefined : host,
    },
    timeoutMs,
    `${host}:${port}`,
  );
  try {
    return socket.getPeerCertificate().raw;
  } finally {
    socket.destroy();
  }
}

export async function servedSerial(
  host: string,
  port: number,
  client?: { cert: Buffer; key: Buffer },
  timeoutMs = 3000,
  via?: Dial,
): Promise<string> {
  return new X509Certificate(await servedCertificate(host, port, client, timeoutMs, via)).serialNumber;
}

const sameSerial = (a: string, b: string) => a.replace(/^0+/, '').toUpperCase() === b.replace(/^0+/, '').toUpperCase();

/** Waits until every endpoint of the component serves the certificate now in its file; the ones that still do not. */
export async function waitServesFiles(host: Host, services: NodeServices, component: Component, timeoutMs: number): Promise<string[]> {
  const endpoints = await servedEndpoints(host, services, component);
  if (endpoints.length === 0) return [`${component}: no TLS endpoint known from its manifest`];
  const end = Date.now() + timeoutMs;
  for (;;) {
    const stale: string[] = [];
    for (const e of endpoints) {
      try {
        const want = new X509Certificate(await host.readFile(e.certFile)).serialNumber;
        const client = e.client && { cert: await host.readFile(e.client.cert), key: await host.readFile(e.client.key) };
        const got = await servedSerial(e.host, e.port, client, 3000, services.dial);
        if (!sameSerial(got, want)) stale.push(`${e.what} ${e.host}:${e.port} serves serial ${got}, the file has ${want}`);
      } catch (err) {
        stale.push(`${e.what} ${e.host}:${e.port}: ${(err as Error).message}`);
      }
    }
    if (stale.length === 0 || Date.now() > end) return stale;
    await new Promise((r) => setTimeout(r, 500));
  }
}
