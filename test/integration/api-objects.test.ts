// Real API objects are large: a Node is 10-30 KB (managedFields, status.images, every condition) and a NodeList of a
// real cluster is megabytes. kpki must read whole answers (with a bound), never a truncated excerpt. No kube-apiserver
// binary exists here: a small HTTPS server stands in, authenticating admin.conf's client certificate against the
// cluster CA, answering with Node objects shaped as kube-apiserver returns them (lab/standins/node-object.ts).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { kpkiAsync, removeTree } from '../helpers/kpki.js';
import { healthyControlPlane } from '../helpers/lab.js';
import { asStored, realisticNode } from '../../lab/standins/node-object.js';
import { certificateToPem, parseCertificate } from '../../src/pki/certificate.js';
import { distinguishedName, issueCertificate, leafExtensions } from '../../src/pki/issue.js';
import { generatePrivateKey, parsePrivateKey, privateKeyToPem } from '../../src/pki/keys.js';
import { apiAccessOf } from '../../src/api/client.js';
import { nodeReady } from '../../src/api/node-ready.js';
import { discoverNodes } from '../../src/api/discover.js';
import { httpGet } from '../../src/api/http.js';

const NODES = 30;
let root = '';
let server: https.Server;
let kubeconfig = '';
const now = new Date().toISOString();

const nodes = Array.from({ length: NODES }, (_, i) => {
  const role = i < 3 ? 'control-plane' : 'worker';
  const name = role === 'control-plane' ? `cp${i + 1}` : `worker-${String(i - 2).padStart(2, '0')}`;
  return asStored(
    realisticNode({ name, address: `127.0.1.${i + 1}`, role, kubeletVersion: 'v1.29.4', ready: { status: 'True', heartbeat: now } }),
    String(1000 + i),
  );
});

before(async () => {
  root = await healthyControlPlane();
  const pki = join(root, 'etc/kubernetes/pki');
  const ca = { cert: parseCertificate(readFileSync(join(pki, 'ca.crt'))), key: parsePrivateKey(readFileSync(join(pki, 'ca.key'))) };
  const key = await generatePrivateKey('ECDSA-P256');
  const cert = await issueCertificate({
    subject: distinguishedName('kube-apiserver'),
    extensions: leafExtensions({ commonName: 'kube-apiserver', ipAddresses: ['127.0.0.1'], extKeyUsages: ['serverAuth'] }),
    publicKey: key,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signer: ca,
  });
  server = https.createServer(
    {
      cert: certificateToPem(cert),
      key: privateKeyToPem(key),
      ca: certificateToPem(ca.cert),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      if (!(req.socket as TLSSocket).authorized)
        return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"kind":"Status","code":401}');
      const send = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      const path = (req.url ?? '').split('?')[0];
      if (path === '/api/v1/nodes')
        return send({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '2000' }, items: nodes });
      const one = /^\/api\/v1\/nodes\/([^/]+)$/.exec(path);
      const node = one && nodes.find((n) => n.metadata.name === one[1]);
      if (node) return send(node);
      if (path === '/api/v1/huge') {
        // an answer past kpki's default bound (64 MiB), streamed: 65 chunks of 1 MiB
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(1 << 20, 0x20);
        let sent = 0;
        const more = () => {
          while (sent < 65 && !res.destroyed) {
            sent++;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end();
        };
        return more();
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"kind":"Status","code":404,"reason":"NotFound"}');
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  kubeconfig = join(root, 'admin-local.conf');
  writeFileSync(
    kubeconfig,
    readFileSync(join(root, 'etc/kubernetes/admin.conf'), 'utf8').replace(/server: .*/, `server: https://127.0.0.1:${port}`),
    { mode: 0o600 },
  );
});

after(() => {
  server?.close();
  if (root) removeTree(root);
});

test('a Node as kube-apiserver returns it is 10+ KB and a NodeList of 30 is hundreds of KB: both read whole', async () => {
  const api = apiAccessOf(readFileSync(kubeconfig, 'utf8'));
  const single = JSON.stringify(nodes[5]);
  assert.ok(single.length > 10_000, `a Node of ${single.length} bytes is not realistic`);
  const ready = await nodeReady(api, 'worker-03');
  assert.equal(ready.ready, true, ready.detail);
  assert.equal(ready.lastSeen?.toISOString(), now);
  const found = await discoverNodes(api);
  assert.equal(found.length, NODES);
  assert.deepEqual(
    found.slice(0, 3).map((n) => `${n.name} ${n.role} ${n.address}`),
    ['cp1 control-plane 127.0.1.1', 'cp2 control-plane 127.0.1.2', 'cp3 control-plane 127.0.1.3'],
  );
});

test('inventory discover writes all 30 nodes of a real-sized NodeList', async () => {
  const out = join(root, 'discovered.yaml');
  // (asynchronously: the stand-in answers from this process)
  const r = await kpkiAsync(['inventory', 'discover', '--from', kubeconfig, '--out', out], {}, 30_000);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /3 control-plane node\(s\), 27 worker\(s\)/);
  assert.equal(readFileSync(out, 'utf8').match(/^ {2}- \{ name: /gm)?.length, NODES);
});

test("an answer past kpki's own default bound (64 MiB) is refused, not read whole", async () => {
  const api = apiAccessOf(readFileSync(kubeconfig, 'utf8'));
  await assert.rejects(
    httpGet(`${api.server}/api/v1/huge`, { ca: api.ca, cert: api.cert, key: api.key }),
    (err: Error & { code?: string }) =>
      err.code === 'E2BIG' && /\/api\/v1\/huge: the answer is larger than 67108864 bytes/.test(err.message),
  );
});

test('an answer past a bound given is refused with a clear error, not cut and misread', async () => {
  const api = apiAccessOf(readFileSync(kubeconfig, 'utf8'));
  await assert.rejects(
    httpGet(`${api.server}/api/v1/nodes`, { ca: api.ca, cert: api.cert, key: api.key, maxBodyBytes: 100_000 }),
    (err: Error & { code?: string }) =>
      err.code === 'E2BIG' && /\/api\/v1\/nodes: the answer is larger than 100000 bytes/.test(err.message),
  );
});
