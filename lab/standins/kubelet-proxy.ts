// kube-apiserver's calls to kubelets (node proxy; `kubectl logs` and `exec` take the same path): to the node's
// InternalIP and kubelet port from its Node object, authenticating with --kubelet-client-certificate/-key. Those files
// are read again for every connection, as kube-apiserver's kubelet client reloads them (ReloadTLSFiles); the kubelet's
// serving certificate is checked only when --kubelet-certificate-authority is set (kubeadm does not set it).
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Flags } from './flags.js';

export interface KubeletTarget {
  address: string;
  port: number;
}

/** Where a Node object says its kubelet listens. */
export function kubeletTarget(node: any): KubeletTarget | undefined {
  const address = node?.status?.addresses?.find((a: any) => a.type === 'InternalIP')?.address;
  const port = Number(node?.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 10250);
  return address ? { address, port } : undefined;
}

export function kubeletProxy(flags: Flags) {
  const certFile = flags.get('kubelet-client-certificate', '');
  const keyFile = flags.get('kubelet-client-key', '');
  const caFile = flags.get('kubelet-certificate-authority', '');
  /** Forwards a GET to the kubelet and relays its answer; an unreachable kubelet or a refused handshake is a 503. */
  return (target: KubeletTarget, path: string, res: ServerResponse): void => {
    let options: https.RequestOptions;
    try {
      options = {
        host: target.address,
        port: target.port,
        path,
        method: 'GET',
        cert: certFile ? readFileSync(certFile) : undefined,
        key: keyFile ? readFileSync(keyFile) : undefined,
        ca: caFile ? readFileSync(caFile) : undefined,
        rejectUnauthorized: Boolean(caFile),
        agent: false,
        timeout: 3000,
      };
    } catch (err) {
      return fail(res, `kubelet client credentials: ${(err as Error).message}`);
    }
    const req = https.request(options, (answer) => {
      res.writeHead(answer.statusCode ?? 502, { 'content-type': answer.headers['content-type'] ?? 'text/plain' });
      answer.pipe(res);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => fail(res, `error trying to reach service: ${err.message}`));
    req.end();
  };
}

function fail(res: ServerResponse, message: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(503, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'ServiceUnavailable', code: 503 }),
  );
}
