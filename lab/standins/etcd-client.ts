// A small etcd v3 client over etcd's JSON gRPC gateway (/v3/kv/...), with mutual TLS like kube-apiserver's.
import https from 'node:https';
import { hostPort } from './flags.js';

export interface EtcdTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export class EtcdError extends Error {}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString();

/** The key right after every key with this prefix (etcd's range_end for a prefix scan). */
function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix);
  bytes[bytes.length - 1]++;
  return bytes.toString('base64');
}

export class EtcdClient {
  private readonly agent: https.Agent;

  constructor(
    readonly endpoint: string,
    tls: EtcdTls,
    private readonly timeoutMs = 2000,
  ) {
    this.agent = new https.Agent({ keepAlive: true, ca: tls.ca, cert: tls.cert, key: tls.key, maxSockets: 16 });
  }

  close(): void {
    this.agent.destroy();
  }

  private request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const { host, port } = hostPort(this.endpoint, 2379);
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host,
          port,
          path,
          method,
          agent: this.agent,
          timeout: this.timeoutMs,
          headers: data ? { 'content-type': 'application/json' } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            try {
              resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : {} });
            } catch {
              reject(new EtcdError(`etcd ${this.endpoint}${path}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
            }
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new EtcdError(`etcd ${this.endpoint}: request timed out after ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(err instanceof EtcdError ? err : new EtcdError(`etcd ${this.endpoint}: ${err.message}`)));
      req.end(data);
    });
  }

  private async call(path: string, body: unknown): Promise<any> {
    const { status, json } = await this.request('POST', path, body);
    if (status !== 200) throw new EtcdError(`etcd ${this.endpoint}${path}: ${json.error ?? json.message ?? `HTTP ${status}`}`);
    return json;
  }

  async put(key: string, value: string): Promise<number> {
    const json = await this.call('/v3/kv/put', { key: b64(key), value: b64(value) });
    return Number(json.header?.revision ?? 0);
  }

  async get(key: string): Promise<string | undefined> {
    const json = await this.call('/v3/kv/range', { key: b64(key) });
    return json.kvs?.length ? unb64(json.kvs[0].value) : undefined;
  }

  async del(key: string): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: b64(key) });
  }

  /** The value and its mod revision (for compare-and-swap updates, as kube-apiserver's resourceVersion). */
  async getVersioned(key: string): Promise<{ value: string; modRevision: string } | undefined> {
    const json = await this.call('/v3/kv/range', { key: b64(key) });
    return json.kvs?.length ? { value: unb64(json.kvs[0].value), modRevision: String(json.kvs[0].mod_revision) } : undefined;
  }

  /** Writes only if the key is still at that mod revision ("0": only if absent); the new revision, or undefined. */
  async putIfRevision(key: string, value: string, modRevision: string): Promise<string | undefined> {
    const compare =
      modRevision === '0'
        ? { target: 'CREATE', key: b64(key), create_revision: '0' }
        : { target: 'MOD', key: b64(key), mod_revision: modRevision };
    const json = await this.call('/v3/kv/txn', { compare: [compare], success: [{ request_put: { key: b64(key), value: b64(value) } }] });
    return json.succeeded ? String(json.header?.revision) : undefined;
  }

  async list(prefix: string): Promise<[string, string][]> {
    const json = await this.call('/v3/kv/range', { key: b64(prefix), range_end: prefixEnd(prefix) });
    return (json.kvs ?? []).map((kv: { key: string; value: string }) => [unb64(kv.key), unb64(kv.value)]);
  }

  /** etcd's own /health endpoint: true only when the member has a leader and can serve. */
  async health(): Promise<{ healthy: boolean; reason?: string }> {
    try {
      const { status, json } = await this.request('GET', '/health');
      return json.health === 'true' && status === 200 ? { healthy: true } : { healthy: false, reason: json.reason || `HTTP ${status}` };
    } catch (err) {
      return { healthy: false, reason: (err as Error).message };
    }
  }
}
