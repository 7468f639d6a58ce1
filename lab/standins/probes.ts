// The kubelet's HTTP probes (httpGet): 2xx/3xx is success; HTTPS without certificate verification, as the kubelet does.
import http from 'node:http';
import https from 'node:https';

export interface HttpProbe {
  host: string;
  port: number;
  path: string;
  scheme: 'HTTP' | 'HTTPS';
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
}

export function probeFromManifest(raw: any, fallbackHost: string): HttpProbe | undefined {
  const get = raw?.httpGet;
  if (!get) return undefined;
  return {
    host: String(get.host ?? fallbackHost),
    port: Number(get.port),
    path: String(get.path ?? '/'),
    scheme: String(get.scheme ?? 'HTTP').toUpperCase() === 'HTTPS' ? 'HTTPS' : 'HTTP',
    initialDelaySeconds: Number(raw.initialDelaySeconds ?? 0),
    periodSeconds: Number(raw.periodSeconds ?? 10),
    timeoutSeconds: Number(raw.timeoutSeconds ?? 1),
    failureThreshold: Number(raw.failureThreshold ?? 3),
  };
}

export function runHttpProbe(probe: Pick<HttpProbe, 'host' | 'port' | 'path' | 'scheme'>, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  const lib = probe.scheme === 'HTTPS' ? https : http;
  return new Promise((resolve) => {
    const req = lib.get({ host: probe.host, port: probe.port, path: probe.path, timeout: timeoutMs, rejectUnauthorized: false, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body = (body + c).slice(0, 500)));
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        resolve({ ok: code >= 200 && code < 400, detail: `HTTP ${code}${code >= 400 ? `: ${body.trim()}` : ''}` });
      });
      res.on('error', (err) => resolve({ ok: false, detail: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ok: false, detail: err.message }));
  });
}
