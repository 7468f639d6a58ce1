// Real kubectl against a stand-in API server (no kube-apiserver binary exists here): a small TLS server that
// serves the node's apiserver.crt and authenticates client certificates against ca.crt the way kube-apiserver does
// (valid → answer; invalid or expired → HTTP 401 Status). It does NOT implement the Kubernetes API beyond
// /version and /readyz.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, copyFileSync, readFileSync, mkdtempSync } from 'node:fs';
import { createServer, Server } from 'node:https';
import { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { kpki, removeTree } from '../helpers/kpki.js';
import { expiredControlPlane } from '../helpers/lab.js';
import { execFileAsync } from '../helpers/processes.js';

const KUBECTL = '/usr/bin/kubectl';
const ADDRESS = '127.0.0.21';
const roots: string[] = [];
const servers: Server[] = [];
after(() => {
  servers.forEach((s) => s.close());
  roots.forEach(removeTree);
});

function standInApiServer(root: string, port: number): Promise<Server> {
  const pki = join(root, 'etc/kubernetes/pki');
  const server = createServer(
    {
      cert: readFileSync(join(pki, 'apiserver.crt')),
      key: readFileSync(join(pki, 'apiserver.key')),
      ca: readFileSync(join(pki, 'ca.crt')),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      if (!socket.authorized) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Failure',
            message: 'Unauthorized',
            reason: 'Unauthorized',
            code: 401,
          }),
        );
        return;
      }
      if (req.url?.startsWith('/version')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ major: '1', minor: '29', gitVersion: 'v1.29.0', platform: 'linux/amd64' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    },
  );
  servers.push(server);
  return new Promise((resolve) => server.listen(port, ADDRESS, () => resolve(server)));
}

async function kubectl(kubeconfig: string): Promise<{ ok: boolean; out: string }> {
  const home = mkdtempSync(join(tmpdir(), 'kpki-kubectl-home-'));
  roots.push(home);
  try {
    const { stdout } = await execFileAsync(KUBECTL, ['--kubeconfig', kubeconfig, '--request-timeout=15s', 'get', '--raw', '/readyz'], {
      env: { ...process.env, HOME: home },
      timeout: 60_000,
    });
    return { ok: true, out: stdout };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

test('kubeconfigs kpki writes work with real kubectl; the expired ones fail as they should', {
  skip: existsSync(KUBECTL) ? false : `${KUBECTL} not found`,
}, async () => {
  const port = 16443;
  const root = await expiredControlPlane({ address: ADDRESS, nodeName: 'kubectl-cp1', controlPlaneEndpoint: `${ADDRESS}:${port}` });
  roots.push(root);
  const admin = join(root, 'etc/kubernetes/admin.conf');
  const oldAdmin = join(root, 'old-admin.conf');
  copyFileSync(admin, oldAdmin);

  const expiredServer = await standInApiServer(root, port);
  const before = await kubectl(admin);
  assert.equal(before.ok, false);
  assert.match(before.out, /x509: certificate has expired or is not yet valid/);
  await new Promise((r) => expiredServer.close(() => r(undefined)));

  const renew = kpki(['--root', root, 'renew', 'all', '--yes']);
  assert.equal(renew.status, 0, renew.stderr);
  await standInApiServer(root, port);

  for (const file of ['admin.conf', 'super-admin.conf']) {
    const result = await kubectl(join(root, 'etc/kubernetes', file));
    assert.equal(result.ok, true, `${file}: ${result.out}`);
    assert.equal(result.out.trim(), 'ok');
  }
  const stale = await kubectl(oldAdmin);
  assert.equal(stale.ok, false);
  assert.match(stale.out, /Unauthorized/);
});
