// A Kubespray control-plane node with its default etcd (`etcd_deployment_type: host`): etcd.service reading
// /etc/etcd.env, certificates in /etc/ssl/etcd/ssl as make-ssl-etcd.sh makes them, kube-apiserver's --etcd-cafile
// naming ca.pem and its client certificate node-<host>.pem, no kubeadm etcd directory (src/trees/kubespray-etcd.ts).
// Found by the lab's Kubespray-style nodes: kpki took ca.pem for the CA's key (".pem" has no ".crt" to swap), listed the
// CA twice (as etcd-ca and etcd-ssl-ca, then every member certificate as "wrong CA"), and expected kubeadm's stacked
// etcd certificates (etcd-server, etcd-peer, etcd-healthcheck-client "missing"): CRITICAL on a healthy node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { buildControlPlaneNode, makeClusterCas } from '../../src/trees/index.js';
import { kpki, removeTree, tempRoot } from '../helpers/kpki.js';
import { copyCase, FIXTURES, fixturesPresent, SKIP_REASON } from '../helpers/fixtures.js';
import { LocalHost } from '../../src/hosts/local.js';
import { readServices } from '../../src/service/health.js';
import { etcdClientFiles } from '../../src/service/etcd-service.js';
import { servedEndpoints } from '../../src/service/served.js';

const members = [1, 2, 3].map((i) => ({ host: `node${i}`, address: `127.0.0.${80 + i}` }));

async function kubesprayNode(): Promise<string> {
  const root = tempRoot('kpki-kubespray-');
  await buildControlPlaneNode(root, await makeClusterCas(), {
    nodeName: 'node1',
    address: members[0].address,
    kubesprayEtcd: { self: members[0], members, etcRoot: root },
  });
  return root;
}

test('check --root on a Kubespray node with etcd as a service: one etcd CA (its key ca-key.pem), its member, admin and node certificates from it, no kubeadm etcd certificate expected; exit 0', async () => {
  const root = await kubesprayNode();
  try {
    const r = kpki(['check', '--root', root, '-o', 'json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout);
    const etcdCas = report.certificateAuthorities.filter((c: { name: string }) => /etcd/.test(c.name));
    assert.deepEqual(
      etcdCas.map((c: { name: string; path: string; status: string[]; externallyManaged: boolean }) => [
        c.name,
        c.path,
        c.status,
        c.externallyManaged,
      ]),
      [['etcd-ca', '/etc/ssl/etcd/ssl/ca.pem', ['ok'], false]],
    );
    const byName = new Map<string, { caName?: string; status: string[] }>(report.certificates.map((c: { name: string }) => [c.name, c]));
    for (const gone of ['etcd-server', 'etcd-peer', 'etcd-healthcheck-client'])
      assert.equal(byName.has(gone), false, `${gone} is not expected`);
    for (const name of ['etcd-member-node1', 'etcd-admin-node1', 'apiserver-etcd-client']) {
      const c = byName.get(name);
      assert.ok(c, `${name} is listed: ${[...byName.keys()].join(', ')}`);
      assert.deepEqual([c.caName, c.status], ['etcd-ca', ['ok']], name);
    }
    // the CA's key, as renewal and rotation read it: ca-key.pem, not ca.pem again
    const plan = kpki(['renew', 'etcd-member-node1', '--root', root, '--dry-run']);
    assert.equal(plan.status, 0, plan.stdout + plan.stderr);
    const table = kpki(['check', '--root', root]);
    assert.equal(table.status, 0, table.stdout);
    assert.doesNotMatch(table.stdout, /missing|wrong CA|loose mode|etcd-ssl-ca/, table.stdout);
  } finally {
    removeTree(root);
  }
});

test('the tree is what Kubespray writes: etcd.env names the member certificate and ca.pem; openssl verifies every etcd certificate against ca.pem', async () => {
  const root = await kubesprayNode();
  try {
    const { readFileSync } = await import('node:fs');
    const env = readFileSync(join(root, 'etc/etcd.env'), 'utf8');
    assert.match(env, /^ETCD_TRUSTED_CA_FILE=\/etc\/ssl\/etcd\/ssl\/ca\.pem$/m);
    assert.match(env, /^ETCD_CERT_FILE=\/etc\/ssl\/etcd\/ssl\/member-node1\.pem$/m);
    assert.match(
      env,
      /^ETCD_INITIAL_CLUSTER=etcd1=https:\/\/127\.0\.0\.81:2380,etcd2=https:\/\/127\.0\.0\.82:2380,etcd3=https:\/\/127\.0\.0\.83:2380$/m,
    );
    assert.match(readFileSync(join(root, 'etc/systemd/system/etcd.service'), 'utf8'), /^EnvironmentFile=\/etc\/etcd\.env$/m);
    const { verifies } = await import('../helpers/openssl.js');
    for (const kind of ['member', 'admin', 'node']) {
      const file = join(root, `etc/ssl/etcd/ssl/${kind}-node1.pem`);
      assert.ok(verifies(join(root, 'etc/ssl/etcd/ssl/ca.pem'), file).ok, `${kind}: openssl verifies it`);
    }
  } finally {
    removeTree(root);
  }
});

test('KubeKey’s real etcd.env (the kubekey-v1.22.10 case): etcd is known as etcd.service; its health and gates ask with etcdctl’s admin certificate named there', {
  skip: fixturesPresent ? false : SKIP_REASON,
}, async () => {
  const fx = copyCase('kubekey-v1.22.10-turboic');
  try {
    const { copyFileSync, mkdirSync, writeFileSync } = await import('node:fs');
    copyFileSync(join(FIXTURES, fx.name, 'kubekey', 'liebe-virtual-machine', 'etcd.env'), join(fx.root, 'etc/etcd.env'));
    // KubeKey's etcd.service (its templates: Type=notify, EnvironmentFile=/etc/etcd.env, ExecStart=/usr/local/bin/etcd)
    mkdirSync(join(fx.root, 'etc/systemd/system'), { recursive: true });
    writeFileSync(
      join(fx.root, 'etc/systemd/system/etcd.service'),
      '[Unit]\nDescription=etcd\n[Service]\nType=notify\nEnvironmentFile=/etc/etcd.env\nExecStart=/usr/local/bin/etcd\nRestart=always\n',
    );
    const host = new LocalHost(fx.root, 'kubekey');
    const services = await readServices(host);
    assert.equal(services.etcdService?.envFile, '/etc/etcd.env');
    assert.equal(services.etcdService?.flags.get('trusted-ca-file'), '/etc/ssl/etcd/ssl/ca.pem');
    assert.deepEqual(await etcdClientFiles(host, services), {
      ca: '/etc/ssl/etcd/ssl/ca.pem',
      cert: '/etc/ssl/etcd/ssl/admin-liebe-virtual-machine.pem',
      key: '/etc/ssl/etcd/ssl/admin-liebe-virtual-machine-key.pem',
    });
    // (the case's address is a real cluster's: computed here, never connected to)
    const endpoints = await servedEndpoints(host, services, 'etcd');
    assert.deepEqual(
      endpoints.map((e) => [e.what, e.port, e.certFile]),
      [
        ['etcd client port', 2379, '/etc/ssl/etcd/ssl/member-liebe-virtual-machine.pem'],
        ['etcd peer port', 2380, '/etc/ssl/etcd/ssl/member-liebe-virtual-machine.pem'],
      ],
    );
    const plan = kpki(['ca', 'rotate', '--root', fx.root, '--ca', 'etcd-ca', '--phase', 'trust', '--dry-run', '--yes']);
    assert.equal(plan.status, 0, plan.stdout + plan.stderr);
    assert.match(plan.stdout + plan.stderr, /\/etc\/ssl\/etcd\/ssl\/ca\.pem/);
  } finally {
    removeTree(fx.root);
  }
});
