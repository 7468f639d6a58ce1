// The kubelet's authenticated API on :10250 (what kube-apiserver calls for `kubectl logs`, `exec`, node proxy), as
// the kubelet serves it:
// - serving certificate: tlsCertFile/tlsPrivateKeyFile of /var/lib/kubelet/config.yaml, else the self-signed
//   /var/lib/kubelet/pki/kubelet.crt (with its throwaway CA) or, with serverTLSBootstrap, kubelet-server-current.pem;
// - client certificates verified against authentication.x509.clientCAFile, read once at start (the kubelet reloads it
//   only behind the ReloadKubeletClientCAFile feature gate): a new CA bundle there needs a kubelet restart, which is
//   what a CA rotation must get right before kube-apiserver presents a kubelet client certificate from the new CA;
// - a client certificate that does not verify is answered 401 Unauthorized after the handshake, as the kubelet's
//   authenticator does; no certificate and anonymous auth off (kubeadm's default): 401 too.
// What it does not do: no webhook authorization (SubjectAccessReview): every authenticated client is allowed.
import https from 'node:https';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse } from 'yaml';

export const KUBELET_API_PORT = 10250;
const CONFIG = '/var/lib/kubelet/config.yaml';
const PKI = '/var/lib/kubelet/pki';

interface KubeletTls {
  cert: Buffer;
  key: Buffer;
  clientCa?: Buffer;
}

/** The files the kubelet serves and authenticates with, as its config names them (relative paths: to the config). */
function kubeletTls(): KubeletTls {
  const config = parse(readFileSync(CONFIG, 'utf8')) ?? {};
  const at = (p: string) => posix.resolve(posix.dirname(CONFIG), p);
  const bootstrap = config.serverTLSBootstrap === true ? `${PKI}/kubelet-server-current.pem` : undefined;
  const certFile = config.tlsCertFile ? at(config.tlsCertFile) : (bootstrap ?? `${PKI}/kubelet.crt`);
  const keyFile = config.tlsPrivateKeyFile ? at(config.tlsPrivateKeyFile) : (bootstrap ?? `${PKI}/kubelet.key`);
  const clientCaFile = config.authentication?.x509?.clientCAFile;
  return {
    cert: readFileSync(certFile),
    key: readFileSync(keyFile),
    clientCa: typeof clientCaFile === 'string' ? readFileSync(at(clientCaFile)) : undefined,
  };
}

function unauthorized(res: ServerResponse): void {
  res.writeHead(401, { 'content-type': 'text/plain' }).end('Unauthorized');
}

/** Serves the kubelet API until the returned server is closed; `answer` handles authenticated requests. */
export async function serveKubeletApi(address: string, answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<https.Server> {
  const { cert, key, clientCa } = kubeletTls();
  const server = https.createServer({ cert, key, ca: clientCa, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const socket = req.socket as tls.TLSSocket;
    if (!clientCa || !socket.authorized) return unauthorized(res);
    answer(req, res);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(KUBELET_API_PORT, address, () => resolve()));
  return server;
}
