// A real etcd (Debian etcd-server) started with kubeadm's TLS flags on the node's loopback address, in its own mount
// namespace with its own /etc/hosts and /etc/resolv.conf: rejects the expired certificates, accepts the renewed ones,
// and etcdctl writes and reads with the renewed healthcheck and apiserver-etcd-client certificates.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kpki, removeTree } from '../helpers/kpki.js';
import { expiredControlPlane } from '../helpers/lab.js';
import { execFileAsync, startTracked, stopAll, stopTracked, waitFor } from '../helpers/processes.js';

const ADDRESS = '127.0.0.31';
const NODE = 'etcd-cp1';
const roots: string[] = [];
after(async () => {
  await stopAll();
  roots.forEach(removeTree);
});

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** A TCP listener on address:port, as `ss` sees it. */
const listening = (address: string, port: number) =>
  spawnSync('ss', ['-Htln', `src ${address}:${port}`], { encoding: 'utf8' }).stdout.includes(`${address}:${port}`);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function startEtcd(root: string) {
  const pki = join(root, 'etc/kubernetes/pki/etcd');
  const data = join(root, 'var/lib/etcd');
  mkdirSync(data, { recursive: true, mode: 0o700 });
  writeFileSync(join(root, 'hosts'), `127.0.0.1 localhost\n${ADDRESS} ${NODE}\n`);
  writeFileSync(join(root, 'resolv.conf'), 'nameserver 127.0.0.1\n');
  const etcd = [
    'etcd',
    `--name=${NODE}`,
    `--data-dir=${data}`,
    `--advertise-client-urls=https://${ADDRESS}:2379`,
    `--listen-client-urls=https://${ADDRESS}:2379`,
    `--initial-advertise-peer-urls=https://${ADDRESS}:2380`,
    `--listen-peer-urls=https://${ADDRESS}:2380`,
    `--initial-cluster=${NODE}=https://${ADDRESS}:2380`,
    `--listen-metrics-urls=http://${ADDRESS}:2381`,
    `--cert-file=${pki}/server.crt`,
    `--key-file=${pki}/server.key`,
    '--client-cert-auth=true',
    `--trusted-ca-file=${pki}/ca.crt`,
    `--peer-cert-file=${pki}/peer.crt`,
    `--peer-key-file=${pki}/peer.key`,
    '--peer-client-cert-auth=true',
    `--peer-trusted-ca-file=${pki}/ca.crt`,
  ]
    .map((w) => `'${w}'`)
    .join(' ');
  // Own mount namespace: this node's name lookups stay on loopback.
  const script = `mount --bind '${root}/hosts' /etc/hosts && mount --bind '${root}/resolv.conf' /etc/resolv.conf && exec ${etcd}`;
  return startTracked('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script]);
}

async function etcdctl(root: string, client: 'healthcheck' | 'apiserver', ...args: string[]): Promise<string> {
  const pki = join(root, 'etc/kubernetes/pki');
  const [cert, key] =
    client === 'healthcheck'
      ? [`${pki}/etcd/healthcheck-client.crt`, `${pki}/etcd/healthcheck-client.key`]
      : [`${pki}/apiserver-etcd-client.crt`, `${pki}/apiserver-etcd-client.key`];
  const { stdout, stderr } = await execFileAsync(
    'etcdctl',
    [
      `--endpoints=https://${ADDRESS}:2379`,
      `--cacert=${pki}/etcd/ca.crt`,
      `--cert=${cert}`,
      `--key=${key}`,
      '--dial-timeout=3s',
      '--command-timeout=5s',
      ...args,
    ],
    { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 15_000 },
  );
  return stdout + stderr; // etcdctl 3.4 prints `endpoint health` results on stderr
}

test('real etcd rejects the expired etcd certificates and accepts the renewed ones', {
  skip: have('etcd') && have('etcdctl') && have('unshare') ? false : 'etcd, etcdctl or unshare not installed',
}, async () => {
  const root = await expiredControlPlane({ address: ADDRESS, nodeName: NODE });
  roots.push(root);

  // etcdctl fails the same way whether etcd refused its certificate or nothing listens (a deadline): the proof is
  // etcd's own log, the expired client certificate refused by a running etcd
  const expired = startEtcd(root);
  await waitFor('the expired etcd to listen on its client port', async () => listening(ADDRESS, 2379));
  await assert.rejects(etcdctl(root, 'healthcheck', 'endpoint', 'health'));
  const log = () => (expired as unknown as { log: string }).log;
  await waitFor('etcd to refuse the expired client certificate', async () =>
    /rejected connection .*failed to verify client certificate: x509: certificate has expired or is not yet valid/.test(log()),
  );
  await stopTracked(expired);
  assert.equal(alive(expired.pid!), false, 'the expired etcd is stopped');

  const renew = kpki(['--root', root, 'renew', 'all', '--yes']);
  assert.equal(renew.status, 0, renew.stderr);

  const etcd = startEtcd(root);
  await waitFor('etcd to be healthy with the renewed certificates', async () =>
    (await etcdctl(root, 'healthcheck', 'endpoint', 'health')).includes('is healthy'),
  ).catch((err) => {
    throw new Error(`${err.message}; etcd log:\n${(etcd as unknown as { log: string }).log.slice(-3000)}`);
  });
  await etcdctl(root, 'apiserver', 'put', '/registry/kpki-test', 'renewed');
  assert.equal((await etcdctl(root, 'healthcheck', 'get', '/registry/kpki-test', '--print-value-only')).trim(), 'renewed');
  await stopTracked(etcd);
  assert.equal(alive(etcd.pid!), false, 'etcd is stopped');
  assert.equal(listening(ADDRESS, 2379), false, 'nothing listens on its port any more');
});
