// A connection through the lab's load balancer to a control-plane node the caller chooses to avoid or not: what "a
// client that retries another control-plane node" means. A layer-4 balancer picks the backend, so a retry through it can
// land on the node that just failed (the lab's balancer notices a node whose etcd is down only at its next /readyz
// check, a second later; other clients of the balancer move its round robin). The client tells which node answered from
// the serving certificate (each API server's holds its own address) and connects again when it is one to avoid; the
// request is sent only over a connection to a node it may use. A connection the client cannot trust is a failed
// attempt on that node, as it is for any client.
import tls from 'node:tls';
import type { KubeCredentials } from './standins/kube-client.js';

export interface BalancedConnection {
  socket?: tls.TLSSocket;
  /** The control-plane address whose API server answered, if the certificate names one. */
  node?: string;
  /** Why the connection cannot carry a request (TLS failure, no backend), when it cannot. */
  error?: string;
}

function connectOnce(endpoint: URL, creds: KubeCredentials, nodes: string[], timeoutMs: number): Promise<BalancedConnection> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: endpoint.hostname,
      port: Number(endpoint.port || 443),
      ca: creds.ca,
      cert: creds.cert,
      key: creds.key,
      rejectUnauthorized: false, // judged below, once the node is known
      timeout: timeoutMs,
    });
    const fail = (error: string, node?: string) => {
      socket.destroy();
      resolve({ node, error });
    };
    socket.once('timeout', () => fail(`${endpoint.host}: no TLS handshake within ${timeoutMs} ms`));
    socket.once('error', (err) => fail(err.message));
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      const names = String(peer.subjectaltname ?? '')
        .split(', ')
        .filter((n) => n.startsWith('IP Address:'))
        .map((n) => n.slice('IP Address:'.length));
      const node = nodes.find((n) => names.includes(n));
      if (!socket.authorized) return fail(`${endpoint.host}: ${socket.authorizationError}`, node);
      const identity = tls.checkServerIdentity(endpoint.hostname, peer);
      if (identity) return fail(identity.message, node);
      socket.setTimeout(0);
      socket.removeAllListeners('error');
      socket.removeAllListeners('timeout');
      resolve({ socket, node });
    });
  });
}

/**
 * A connection through the balancer to a node not in `avoid`, when the balancer hands one out within as many
 * connections as there are nodes, twice; otherwise the last connection it gave.
 */
export async function connectAvoiding(
  endpoint: string,
  creds: KubeCredentials,
  nodes: string[],
  avoid: ReadonlySet<string>,
  timeoutMs: number,
): Promise<BalancedConnection> {
  const url = new URL(endpoint);
  for (let tries = 1; ; tries++) {
    const connection = await connectOnce(url, creds, nodes, timeoutMs);
    if (connection.node === undefined || !avoid.has(connection.node) || tries >= 2 * nodes.length) return connection;
    connection.socket?.destroy();
  }
}
