// The kubelet's HTTP probes (httpGet): 2xx/3xx is success; HTTPS without certificate verification, as the kubelet does.
import { httpGet } from '../../src/api/http.js';

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

export async function runHttpProbe(
  probe: Pick<HttpProbe, 'host' | 'port' | 'path' | 'scheme'>,
  timeoutMs: number,
): Promise<{ ok: boolean; detail: string }> {
  try {
    const { status, body } = await httpGet(`${probe.scheme.toLowerCase()}://${probe.host}:${probe.port}${probe.path}`, {
      insecure: true,
      timeoutMs,
    });
    return { ok: status >= 200 && status < 400, detail: `HTTP ${status}${status >= 400 ? `: ${body.slice(0, 500).trim()}` : ''}` };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}
