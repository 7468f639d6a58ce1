// kube-apiserver stand-in (no kube-apiserver binary runs on this machine). What it does like the real one:
// - serves TLS with --tls-cert-file/--tls-private-key-file and reloads them (and --client-ca-file) when they change;
// - authenticates client certificates against --client-ca-file: valid → user CN, groups O; presented but invalid or
//   expired → HTTP 401 Status (the handshake still succeeds, so kubectl prints "Unauthorized"); none → anonymous;
// - talks to etcd with --etcd-certfile/--etcd-keyfile/--etcd-cafile, loaded once at start as kube-apiserver does;
//   /readyz, /healthz and /livez fail while etcd cannot be reached;
// - answers /version, discovery (/api, /api/v1, /apis) and nodes, configmaps, secrets and leases backed by etcd.
// - service-account tokens (service-accounts.ts): keys read at start, TokenRequest, /openid/v1/jwks;
// - node proxy to the kubelets' :10250 with --kubelet-client-certificate (kubelet-proxy.ts), what `kubectl logs` uses.
// What it does not do: no RBAC (a fixed rule set below), no other token authenticators, no watch, no admission,
// no aggregation, JSON instead of protobuf in etcd, no pod logs or exec, no graceful shutdown delay.
import https from 'node:https';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EtcdClient } from './etcd-client.js';
import { Flags, log } from './flags.js';
import { clusterList } from './api-lists.js';
import { authenticationPublisher } from './authentication-configmap.js';
import { asStored } from './node-object.js';
import { ServiceAccountTokens } from './service-accounts.js';
import { kubeletProxy, kubeletTarget } from './kubelet-proxy.js';

const ADMIN_GROUPS = new Set(['system:masters', 'kubeadm:cluster-admins']);
const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version']);
const NODE_STALE_MS = 10_000;

interface User {
  name: string;
  groups: string[];
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

/** What the node lifecycle controller would show: Ready turns Unknown when the kubelet stops posting status. */
function withStaleness(node: any): any {
  const ready = node?.status?.conditions?.find((c: any) => c.type === 'Ready');
  if (ready && Date.now() - Date.parse(ready.lastHeartbeatTime) > NODE_STALE_MS) {
    Object.assign(ready, { status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' });
  }
  return node;
}

function versionInfo(): Record<string, string> {
  const tag = /:v(\d+)\.(\d+)\.(\d+)/.exec(process.env.LAB_IMAGE ?? '') ?? ['', '1', '29', '0'];
  return {
    major: tag[1],
    minor: tag[2],
    gitVersion: `v${tag[1]}.${tag[2]}.${tag[3]}`,
    gitCommit: 'kpki-lab-stand-in',
    gitTreeState: 'clean',
    buildDate: '2024-01-01T00:00:00Z',
    goVersion: 'go1.21',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

function nodeTable(nodes: any[]): unknown {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: {},
    columnDefinitions: [
      { name: 'Name', type: 'string', format: 'name', description: '', priority: 0 },
      { name: 'Status', type: 'string', format: '', description: '', priority: 0 },
      { name: 'Roles', type: 'string', format: '', description: '', priority: 0 },
      { name: 'Version', type: 'string', format: '', description: '', priority: 0 },
    ],
    rows: nodes.map((n) => {
      const ready = n.status?.conditions?.find((c: any) => c.type === 'Ready');
      const roles = Object.keys(n.metadata?.labels ?? {})
        .filter((l) => l.startsWith('node-role.kubernetes.io/'))
        .map((l) => l.split('/')[1]);
      return {
        cells: [
          n.metadata.name,
          ready?.status === 'True' ? 'Ready' : 'NotReady',
          roles.join(',') || '<none>',
          n.status?.nodeInfo?.kubeletVersion ?? '',
        ],
        object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: n.metadata },
      };
    }),
  };
}

export async function runApiServer(argv: string[]): Promise<void> {
  const flags = new Flags(argv);
  const address = flags.require('advertise-address');
  const port = Number(flags.get('secure-port', '6443'));
  const certFile = flags.require('tls-cert-file');
  const keyFile = flags.require('tls-private-key-file');
  const clientCaFile = flags.require('client-ca-file');
  const etcdEndpoint = flags.require('etcd-servers').split(',')[0];
  const serviceAccounts = new ServiceAccountTokens(flags);
  const toKubelet = kubeletProxy(flags);
  const etcd = new EtcdClient(etcdEndpoint, {
    ca: readFileSync(flags.require('etcd-cafile')),
    cert: readFileSync(flags.require('etcd-certfile')),
    key: readFileSync(flags.require('etcd-keyfile')),
  });

  // Dynamic serving certificate and client CA, as kube-apiserver reloads them: a bad pair keeps the old one.
  let loaded = '';
  const context = () => ({ cert: readFileSync(certFile), key: readFileSync(keyFile), ca: readFileSync(clientCaFile) });
  const first = context();
  loaded = Buffer.concat([first.cert, first.key, first.ca]).toString('base64');
  const server = https.createServer({ ...first, requestCert: true, rejectUnauthorized: false });
  const reload = setInterval(() => {
    try {
      const next = context();
      const fingerprint = Buffer.concat([next.cert, next.key, next.ca]).toString('base64');
      if (fingerprint === loaded) return;
      tls.createSecureContext(next); // throws on a key that does not match
      server.setSecureContext({ ...next, requestCert: true, rejectUnauthorized: false } as tls.SecureContextOptions);
      loaded = fingerprint;
      log('kube-apiserver', `loaded new serving certificate and client CA from ${certFile}`);
    } catch (err) {
      log('kube-apiserver', `not reloading certificates: ${(err as Error).message}`);
    }
  }, 1000);

  let etcdState = { ok: false, reason: 'not checked yet' };
  const checkEtcd = async () => {
    try {
      await etcd.get('/registry/health');
      etcdState = { ok: true, reason: '' };
    } catch (err) {
      etcdState = { ok: false, reason: (err as Error).message };
    }
  };
  await checkEtcd();
  const publishAuthentication = authenticationPublisher(etcd, flags);
  const publish = () =>
    publishAuthentication().catch((err) =>
      log('kube-apiserver', `extension-apiserver-authentication not published: ${(err as Error).message}`),
    );
  await publish();
  const etcdTimer = setInterval(() => {
    checkEtcd();
    publish();
  }, 1000);

  const authenticate = (req: IncomingMessage): User | 'unauthorized' => {
    const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''));
    if (req.headers.authorization) return (bearer && serviceAccounts.authenticate(bearer[1])) || 'unauthorized';
    const socket = req.socket as tls.TLSSocket;
    const peer = socket.getPeerCertificate();
    if (!peer || Object.keys(peer).length === 0) return { name: 'system:anonymous', groups: ['system:unauthenticated'] };
    if (!socket.authorized) return 'unauthorized';
    const o = peer.subject.O;
    return { name: String(peer.subject.CN), groups: [...(Array.isArray(o) ? o : o ? [o] : []), 'system:authenticated'] };
  };

  const authorized = (user: User, method: string, path: string): boolean => {
    if (PUBLIC_PATHS.has(path)) return true;
    if (user.name === 'system:anonymous') return false;
    if (user.groups.some((g) => ADMIN_GROUPS.has(g))) return true;
    if (method === 'GET') return true;
    // the controller-manager publishes kube-root-ca.crt into every namespace (its root-ca-cert-publisher controller)
    if (user.name === 'system:kube-controller-manager' && /^\/api\/v1\/namespaces\/[^/]+\/configmaps(\/[^/]+)?$/.test(path)) return true;
    const node = /^system:node:(.+)$/.exec(user.name);
    if (node === null || !user.groups.includes('system:nodes')) return false;
    // a kubelet posts its own Node and asks for certificates (system:node's rules)
    return (
      new RegExp(`^/api/v1/nodes/${node[1]}(/status)?$`).test(path) ||
      (method === 'POST' && path === '/apis/certificates.k8s.io/v1/certificatesigningrequests')
    );
  };

  const health = (res: ServerResponse, verbose: boolean) => {
    const lines = ['[+]ping ok', etcdState.ok ? '[+]etcd ok' : `[-]etcd failed: ${etcdState.reason}`];
    res.writeHead(etcdState.ok ? 200 : 500, { 'content-type': 'text/plain' });
    res.end(etcdState.ok && !verbose ? 'ok' : `${lines.join('\n')}\n${etcdState.ok ? 'healthz check passed' : 'healthz check failed'}\n`);
  };

  const routes = async (req: IncomingMessage, res: ServerResponse, path: string, accept: string, user: User): Promise<void> => {
    let m: RegExpExecArray | null;
    if (req.method === 'GET' && path === '/version') return json(res, versionInfo());
    if (req.method === 'GET' && path === '/openid/v1/jwks') return json(res, serviceAccounts.jwks());
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/]+)\/token$/.exec(path)) && req.method === 'POST') {
      const request = JSON.parse((await readBody(req)) || '{}');
      const issued = serviceAccounts.issue(m[1], m[2], Number(request?.spec?.expirationSeconds ?? 3600));
      res.writeHead(201, { 'content-type': 'application/json' });
      return void res.end(
        JSON.stringify({
          kind: 'TokenRequest',
          apiVersion: 'authentication.k8s.io/v1',
          metadata: { name: m[2], namespace: m[1] },
          status: issued,
        }),
      );
    }
    if (req.method === 'GET' && path === '/api')
      return json(res, {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `${address}:${port}` }],
      });
    if (req.method === 'GET' && path === '/apis') {
      const group = (name: string) => ({
        name,
        versions: [{ groupVersion: `${name}/v1`, version: 'v1' }],
        preferredVersion: { groupVersion: `${name}/v1`, version: 'v1' },
      });
      return json(res, { kind: 'APIGroupList', apiVersion: 'v1', groups: [group('certificates.k8s.io'), group('coordination.k8s.io')] });
    }
    if (req.method === 'GET' && path === '/apis/certificates.k8s.io/v1') {
      return json(res, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: 'certificates.k8s.io/v1',
        resources: [
          {
            name: 'certificatesigningrequests',
            singularName: 'certificatesigningrequest',
            namespaced: false,
            kind: 'CertificateSigningRequest',
            verbs: ['create', 'delete', 'get', 'list'],
            shortNames: ['csr'],
          },
        ],
      });
    }
    if ((m = /^\/apis\/certificates\.k8s\.io\/v1\/certificatesigningrequests(?:\/([^/]+))?$/.exec(path))) {
      // CSRs: created by a user (spec.username is who asked, as the real server sets it), listed, deleted
      if (req.method === 'POST' && !m[1]) {
        const csr = JSON.parse(await readBody(req));
        const name = csr?.metadata?.name;
        if (!name) return status(res, 422, 'Invalid', 'metadata.name is required');
        const key = `/registry/certificatesigningrequests/${name}`;
        if ((await etcd.get(key)) !== undefined)
          return status(res, 409, 'AlreadyExists', `certificatesigningrequests.certificates.k8s.io "${name}" already exists`);
        const stored = {
          ...csr,
          apiVersion: 'certificates.k8s.io/v1',
          kind: 'CertificateSigningRequest',
          metadata: { ...csr.metadata, creationTimestamp: new Date().toISOString() },
          spec: { ...csr.spec, username: user.name, groups: user.groups },
          status: {},
        };
        await etcd.put(key, JSON.stringify(stored));
        res.writeHead(201, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify(stored));
      }
      if (req.method === 'GET' && !m[1]) {
        const signer = /spec\.signerName=([^,]+)/.exec(new URL(req.url ?? '/', 'https://x').searchParams.get('fieldSelector') ?? '')?.[1];
        const items = (await etcd.list('/registry/certificatesigningrequests/'))
          .map(([, v]) => JSON.parse(v))
          .filter((c) => !signer || c.spec?.signerName === signer);
        return json(res, { kind: 'CertificateSigningRequestList', apiVersion: 'certificates.k8s.io/v1', metadata: {}, items });
      }
      if (req.method === 'DELETE' && m[1]) {
        await etcd.del(`/registry/certificatesigningrequests/${m[1]}`);
        return json(res, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
      }
    }
    if (req.method === 'GET' && path === '/api/v1') {
      const resource = (name: string, kind: string, namespaced: boolean) => ({
        name,
        singularName: '',
        namespaced,
        kind,
        verbs: ['get', 'list'],
      });
      return json(res, {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [resource('nodes', 'Node', false), resource('configmaps', 'ConfigMap', true)],
      });
    }
    if (req.method === 'GET' && path === '/api/v1/nodes') {
      const items = (await etcd.list('/registry/minions/')).map(([, v]) => withStaleness(JSON.parse(v)));
      return json(res, accept.includes('as=Table') ? nodeTable(items) : { kind: 'NodeList', apiVersion: 'v1', metadata: {}, items });
    }
    if ((m = /^\/api\/v1\/nodes\/([^/]+)\/proxy(\/.*)?$/.exec(path)) && req.method === 'GET') {
      const value = await etcd.get(`/registry/minions/${m[1]}`);
      const target = value === undefined ? undefined : kubeletTarget(JSON.parse(value));
      if (!target) return status(res, 404, 'NotFound', `nodes "${m[1]}" not found`);
      return toKubelet(target, m[2] ?? '/', res);
    }
    if ((m = /^\/api\/v1\/nodes\/([^/]+)(\/status)?$/.exec(path))) {
      const key = `/registry/minions/${m[1]}`;
      if (req.method === 'GET') {
        const value = await etcd.get(key);
        if (value === undefined) return status(res, 404, 'NotFound', `nodes "${m[1]}" not found`);
        const node = withStaleness(JSON.parse(value));
        return json(res, accept.includes('as=Table') ? nodeTable([node]) : node);
      }
      if (req.method === 'PUT') {
        // the kubelet stand-in registers and updates in one PUT; stored with what kube-apiserver adds (managedFields)
        const node = asStored(JSON.parse(await readBody(req)), String(Date.now()));
        await etcd.put(key, JSON.stringify(node));
        return json(res, node);
      }
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/.exec(path))) {
      // Secrets: create and get (enough for bootstrap tokens); stringData is folded into data as the real one does.
      if (req.method === 'POST' && !m[2]) {
        const secret = JSON.parse(await readBody(req));
        const name = secret?.metadata?.name;
        if (!name) return status(res, 422, 'Invalid', 'metadata.name is required');
        const key = `/registry/secrets/${m[1]}/${name}`;
        if ((await etcd.get(key)) !== undefined) return status(res, 409, 'AlreadyExists', `secrets "${name}" already exists`);
        const data = { ...(secret.data ?? {}) };
        for (const [k, v] of Object.entries(secret.stringData ?? {})) data[k] = Buffer.from(String(v)).toString('base64');
        const stored = {
          ...secret,
          data,
          stringData: undefined,
          metadata: { ...secret.metadata, namespace: m[1], creationTimestamp: new Date().toISOString() },
        };
        await etcd.put(key, JSON.stringify(stored));
        res.writeHead(201, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify(stored));
      }
      if (req.method === 'GET' && m[2]) {
        const value = await etcd.get(`/registry/secrets/${m[1]}/${m[2]}`);
        return value === undefined ? status(res, 404, 'NotFound', `secrets "${m[2]}" not found`) : json(res, JSON.parse(value));
      }
    }
    if (req.method === 'GET') {
      const listed = await clusterList(etcd, path, new URL(req.url ?? '/', 'https://x').searchParams);
      if (listed) return json(res, listed);
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps$/.exec(path)) && req.method === 'POST') {
      const cm = JSON.parse(await readBody(req));
      const name = cm?.metadata?.name;
      if (!name) return status(res, 422, 'Invalid', 'metadata.name is required');
      const stored = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        ...cm,
        metadata: { ...cm.metadata, namespace: m[1], resourceVersion: undefined },
      };
      const rev = await etcd.putIfRevision(`/registry/configmaps/${m[1]}/${name}`, JSON.stringify(stored), '0');
      if (!rev) return status(res, 409, 'AlreadyExists', `configmaps "${name}" already exists`);
      res.writeHead(201, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ ...stored, metadata: { ...stored.metadata, resourceVersion: rev } }));
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps(?:\/([^/]+))?$/.exec(path)) && req.method === 'GET') {
      if (m[2]) {
        const v = await etcd.getVersioned(`/registry/configmaps/${m[1]}/${m[2]}`);
        if (!v) return status(res, 404, 'NotFound', `configmaps "${m[2]}" not found`);
        const cm = JSON.parse(v.value);
        return json(res, { ...cm, metadata: { ...cm.metadata, resourceVersion: v.modRevision } });
      }
      const items = (await etcd.list(`/registry/configmaps/${m[1]}/`)).map(([, v]) => JSON.parse(v));
      return json(res, { kind: 'ConfigMapList', apiVersion: 'v1', metadata: {}, items });
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/([^/]+)$/.exec(path)) && req.method === 'PUT') {
      // an update, as kube-apiserver takes it: only against the resourceVersion the client read (else 409 Conflict)
      const cm = JSON.parse(await readBody(req));
      const stored = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        ...cm,
        metadata: { ...cm.metadata, name: m[2], namespace: m[1], resourceVersion: undefined },
      };
      const rev = await etcd.putIfRevision(
        `/registry/configmaps/${m[1]}/${m[2]}`,
        JSON.stringify(stored),
        String(cm?.metadata?.resourceVersion ?? ''),
      );
      if (!rev)
        return status(
          res,
          409,
          'Conflict',
          `Operation cannot be fulfilled on configmaps "${m[2]}": the object has been modified; please apply your changes to the latest version and try again`,
        );
      return json(res, { ...stored, metadata: { ...stored.metadata, resourceVersion: rev } });
    }
    if ((m = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/.exec(path))) {
      // Leases with optimistic concurrency: resourceVersion is etcd's mod revision, a stale one is a 409 Conflict
      const keyOf = (name: string) => `/registry/leases/${m![1]}/${name}`;
      const withVersion = (value: string, rev: string) => {
        const lease = JSON.parse(value);
        return { ...lease, metadata: { ...lease.metadata, resourceVersion: rev } };
      };
      if (req.method === 'GET' && m[2]) {
        const v = await etcd.getVersioned(keyOf(m[2]));
        return v
          ? json(res, withVersion(v.value, v.modRevision))
          : status(res, 404, 'NotFound', `leases.coordination.k8s.io "${m[2]}" not found`);
      }
      if ((req.method === 'POST' && !m[2]) || (req.method === 'PUT' && m[2])) {
        const lease = JSON.parse(await readBody(req));
        const name = m[2] ?? lease?.metadata?.name;
        if (!name) return status(res, 422, 'Invalid', 'metadata.name is required');
        const stored = {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          ...lease,
          metadata: { ...lease.metadata, name, namespace: m[1], resourceVersion: undefined },
        };
        const rev = await etcd.putIfRevision(
          keyOf(name),
          JSON.stringify(stored),
          req.method === 'POST' ? '0' : String(lease?.metadata?.resourceVersion ?? ''),
        );
        if (!rev)
          return req.method === 'POST'
            ? status(res, 409, 'AlreadyExists', `leases.coordination.k8s.io "${name}" already exists`)
            : status(
                res,
                409,
                'Conflict',
                `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
              );
        res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify(withVersion(JSON.stringify(stored), rev)));
      }
    }
    return status(res, 404, 'NotFound', 'the server could not find the requested resource');
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', `https://${address}`);
    const user = authenticate(req);
    if (user === 'unauthorized') return status(res, 401, 'Unauthorized', 'Unauthorized');
    if (!authorized(user, req.method ?? 'GET', url.pathname)) {
      return status(res, 403, 'Forbidden', `User "${user.name}" cannot ${req.method?.toLowerCase()} path "${url.pathname}"`);
    }
    if (['/healthz', '/livez', '/readyz'].includes(url.pathname)) return health(res, url.searchParams.has('verbose'));
    routes(req, res, url.pathname, String(req.headers.accept ?? ''), user).catch((err) =>
      status(res, 503, 'ServiceUnavailable', (err as Error).message),
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
  log(
    'kube-apiserver',
    `serving on https://${address}:${port}, etcd ${etcdEndpoint}, service-account keys ${serviceAccounts.keyIds.join(', ')}`,
  );

  const stop = () => {
    clearInterval(reload);
    clearInterval(etcdTimer);
    server.close();
    server.closeAllConnections();
    etcd.close();
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
