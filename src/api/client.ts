// The Kubernetes API client: the server, how to authenticate (a client certificate from a kubeconfig, or a pod's
// service-account token), and one request that reads a JSON answer whole. Every API call of kpki goes through here.
import { parseKubeconfig } from '../kubeadm/kubeconfig.js';
import { httpRequest } from './http.js';

export interface ApiAccess {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** A bearer token (a pod's service account) instead of a client certificate. */
  token?: string;
}

export function apiAccessOf(adminConfText: string): ApiAccess {
  const id = parseKubeconfig(adminConfText);
  if (!id.server || !id.clientCertificateData || !id.clientKeyData)
    throw new Error('admin.conf has no server or embedded client credentials');
  return { server: id.server.replace(/\/$/, ''), ca: id.certificateAuthorityData, cert: id.clientCertificateData, key: id.clientKeyData };
}

export function apiGet(
  api: ApiAccess,
  path: string,
  timeoutMs = 5000,
): Promise<{ status: number; json?: Record<string, unknown>; body: string }> {
  return apiRequest(api, 'GET', path, undefined, timeoutMs);
}

export async function apiRequest(
  api: ApiAccess,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  body?: unknown,
  timeoutMs = 5000,
): Promise<{ status: number; json?: Record<string, unknown>; body: string }> {
  const res = await httpRequest(method, `${api.server}${path}`, {
    ca: api.ca,
    cert: api.cert,
    key: api.key,
    headers: api.token ? { authorization: `Bearer ${api.token}` } : undefined,
    body,
    timeoutMs,
  });
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(res.body);
  } catch {
    // an error page may be text; a success that is not JSON is never read as "nothing"
    if (res.status >= 200 && res.status < 300)
      throw new Error(
        `${method} ${api.server}${path}: HTTP ${res.status} but not JSON (${res.body.length} bytes: ${res.body.slice(0, 120)})`,
      );
    json = undefined;
  }
  return { status: res.status, json, body: res.body };
}
