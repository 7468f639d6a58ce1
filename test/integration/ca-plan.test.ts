// kpki ca plan on one node (files only): for each CA, what trusts it and when it is read, what it signed, restarts per
// phase, as ../shared/reference/ca-rotation.md lists them; the join hash as openssl computes it; nothing written.
// Also on mklab.py's trees (control plane and worker) and on every real-world tree.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildControlPlaneNode, makeClusterCas } from '../../src/trees/index.js';
import { caseNames, copyCase, fixturesPresent, SKIP_REASON } from '../helpers/fixtures.js';
import { hashTree, kpki, removeTree, tempRoot } from '../helpers/kpki.js';
import { sharedHealthyNode } from '../helpers/lab.js';
import { mklab, mklabSkipReason } from '../helpers/mklab.js';
import { openssl } from '../helpers/openssl.js';

const { fresh } = sharedHealthyNode();
const roots: string[] = [];
after(() => roots.forEach(removeTree));

interface Plan {
  ca: { present: boolean; keyPresent: boolean; joinHash?: string; expired?: boolean };
  trusts: { path: string; via: string; readAt: string; signs?: boolean }[];
  signed: { name: string }[];
  restarts: { trust: string[]; issue: string[]; finish: string[] };
  kubeletClient?: { rotation: boolean; signedByThisCa: boolean };
}

function plan(root: string, ca: string, flags: string[] = []): { status: number; plan: Plan; text: string } {
  const r = kpki(['--root', root, ...flags, 'ca', 'plan', '--ca', ca, '-o', 'json']);
  assert.ok(r.stdout.startsWith('{'), `${ca}: ${r.stdout}${r.stderr}`);
  const json = JSON.parse(r.stdout);
  return { status: r.status, plan: json.nodes[0], text: r.stdout };
}

/** kubeadm's --discovery-token-ca-cert-hash, as openssl computes it. */
function opensslCaHash(caFile: string): string {
  const pub = openssl(['x509', '-in', caFile, '-noout', '-pubkey']).stdout;
  const der = spawnSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: pub }).stdout;
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

const vias = (p: Plan) => p.trusts.map((t) => `${t.via} ${t.readAt}${t.signs ? ' signs' : ''}`);

test('ca plan --ca ca on a kubeadm node: every file and flag that trusts the cluster CA, what it signed, restarts per phase, the join hash', () => {
  const root = fresh();
  const before = hashTree(root);
  const { status, plan: p } = plan(root, 'ca');
  assert.equal(status, 0);
  for (const expected of [
    'kube-apiserver --client-ca-file change',
    'kube-controller-manager --root-ca-file start',
    'kube-controller-manager --cluster-signing-cert-file start signs',
    'controller-manager.conf certificate-authority-data start',
    'scheduler.conf certificate-authority-data start',
    'kubelet.conf certificate-authority-data start',
    'admin.conf certificate-authority-data per-use',
  ])
    assert.ok(vias(p).includes(expected), `${expected} is missing from ${vias(p).join('; ')}`);
  const signed = p.signed.map((s) => s.name);
  for (const name of ['apiserver', 'apiserver-kubelet-client', 'admin.conf', 'controller-manager.conf', 'scheduler.conf'])
    assert.ok(signed.includes(name), `${name} not among ${signed}`);
  for (const name of ['etcd-server', 'front-proxy-client']) assert.ok(!signed.includes(name), `${name} is not signed by ca`);
  assert.deepEqual(p.restarts.trust, ['kube-controller-manager', 'kube-scheduler', 'kubelet'], 'kube-apiserver reloads its client CA');
  assert.ok(p.restarts.issue.includes('kube-apiserver'));
  assert.equal(p.ca.joinHash, opensslCaHash(join(root, 'etc/kubernetes/pki/ca.crt')));
  const text = kpki(['--root', root, 'ca', 'plan']).stdout;
  assert.match(text, /KPKI CANNOT SEE THESE/);
  assert.match(text, /kubeconfigs outside the cluster/);
  assert.equal(hashTree(root), before, 'ca plan writes nothing');
});

test('ca plan for etcd-ca, front-proxy-ca and sa: their own readers (etcd restarts for its trusted CA; the service-account key pair by its flags)', () => {
  const root = fresh();
  const etcd = plan(root, 'etcd-ca').plan;
  for (const v of ['etcd --trusted-ca-file start', 'etcd --peer-trusted-ca-file start', 'kube-apiserver --etcd-cafile start'])
    assert.ok(vias(etcd).includes(v), `${v}: ${vias(etcd)}`);
  assert.deepEqual(etcd.restarts.trust, ['etcd', 'kube-apiserver']);
  assert.deepEqual(etcd.signed.map((s) => s.name).sort(), ['apiserver-etcd-client', 'etcd-healthcheck-client', 'etcd-peer', 'etcd-server']);
  const proxy = plan(root, 'front-proxy-ca').plan;
  assert.ok(vias(proxy).includes('kube-apiserver --requestheader-client-ca-file change'), vias(proxy).join('; '));
  assert.deepEqual(proxy.restarts.trust, [], 'the requestheader CA is reloaded on change');
  assert.deepEqual(
    proxy.signed.map((s) => s.name),
    ['front-proxy-client'],
  );
  const sa = plan(root, 'sa').plan;
  for (const v of [
    'kube-apiserver --service-account-key-file start',
    'kube-apiserver --service-account-signing-key-file start signs',
    'kube-controller-manager --service-account-private-key-file start signs',
  ])
    assert.ok(vias(sa).includes(v), `${v}: ${vias(sa)}`);
  assert.deepEqual(sa.restarts.trust, ['kube-apiserver', 'kube-controller-manager']);
  const usage = kpki(['--root', root, 'ca', 'plan', '--ca', 'root-ca']);
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /--ca must be one of ca, front-proxy-ca, etcd-ca, sa/);
});

test('an expired CA cannot be bridged: ca plan says so, ca rotate refuses and writes nothing (exit 2)', async () => {
  const root = tempRoot('kpki-ca-expired-');
  roots.push(root);
  const now = Date.now();
  const cas = await makeClusterCas({ notBefore: new Date(now - 3700 * 86_400_000), notAfter: new Date(now - 86_400_000) });
  await buildControlPlaneNode(root, cas, {
    nodeName: 'old-cp',
    address: '127.0.0.11',
    leafNotBefore: new Date(now - 400 * 86_400_000),
    leafNotAfter: new Date(now - 30 * 86_400_000),
  });
  const r = kpki(['--root', root, 'ca', 'plan']);
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stdout, /EXPIRED/);
  assert.match(r.stdout, /cannot|no old CA to bridge/);
  assert.match(r.stdout, /a recovery with a new CA/);
  const before = hashTree(root);
  for (const ca of ['ca', 'etcd-ca', 'front-proxy-ca']) {
    const rotate = kpki(['--root', root, 'ca', 'rotate', '--ca', ca, '--yes']);
    assert.equal(rotate.status, 2, `${ca}: ${rotate.stdout}${rotate.stderr}`);
    assert.match(
      rotate.stderr,
      new RegExp(`${ca} \\(/etc/kubernetes/pki/.*\\) expired .*no old CA to bridge from.*a recovery with a new CA`),
    );
  }
  assert.equal(hashTree(root), before, 'ca rotate refused the expired CAs and wrote nothing');
});

describe("ca plan on mklab.py's trees", { skip: mklabSkipReason() }, () => {
  test('a control-plane node and a worker: the worker trusts the cluster CA in kubelet.conf and clientCAFile, and restarts only its kubelet', () => {
    const lab = mklab(['--alg', 'ecdsa-p256', '--nodes', '1', '--workers', '1', '--expired-days', '-100']);
    roots.push(lab.dir);
    const [cp, worker] = lab.nodes;
    const w = plan(worker.root, 'ca').plan;
    assert.deepEqual(w.trusts.map((t) => t.via).sort(), [
      'kubelet clientCAFile (/var/lib/kubelet/config.yaml)',
      'kubelet.conf certificate-authority-data',
    ]);
    assert.deepEqual(w.restarts.trust, ['kubelet']);
    assert.equal(w.kubeletClient?.signedByThisCa, true);
    assert.deepEqual(w.restarts.issue, [], 'a rotating kubelet picks up its new client certificate itself');
    const c = plan(cp.root, 'ca').plan;
    assert.ok(vias(c).includes('kube-apiserver --client-ca-file change'));
    assert.equal(c.ca.joinHash, opensslCaHash(join(cp.root, 'etc/kubernetes/pki/ca.crt')));
  });
});

describe('ca plan for etcd run by systemd (Kubespray, KubeKey)', { skip: fixturesPresent ? false : SKIP_REASON }, () => {
  test("the trusted CA files named in /etc/etcd.env (as Kubespray's etcd.env.j2 renders it) are found, and etcd restarts", () => {
    const kubekey = caseNames().find((n) => n.startsWith('kubekey'));
    if (!kubekey) return;
    const fx = copyCase(kubekey);
    roots.push(fx.root);
    writeFileSync(
      join(fx.root, 'etc/etcd.env'),
      [
        '# Environment file for etcd v3.5.6',
        'ETCD_DATA_DIR=/var/lib/etcd',
        'ETCD_NAME=etcd-node1',
        '# TLS settings',
        'ETCD_TRUSTED_CA_FILE=/etc/ssl/etcd/ssl/ca.pem',
        'ETCD_CERT_FILE=/etc/ssl/etcd/ssl/member-node1.pem',
        'ETCD_KEY_FILE=/etc/ssl/etcd/ssl/member-node1-key.pem',
        'ETCD_CLIENT_CERT_AUTH=true',
        '',
        'ETCD_PEER_TRUSTED_CA_FILE=/etc/ssl/etcd/ssl/ca.pem',
        'ETCD_PEER_CERT_FILE=/etc/ssl/etcd/ssl/member-node1.pem',
        'ETCD_PEER_KEY_FILE=/etc/ssl/etcd/ssl/member-node1-key.pem',
        'ETCD_PEER_CLIENT_CERT_AUTH=True',
        '',
      ].join('\n'),
    );
    const { plan: p } = plan(fx.root, 'etcd-ca', fx.flags);
    assert.deepEqual(vias(p), ['etcd ETCD_TRUSTED_CA_FILE (/etc/etcd.env) start', 'etcd ETCD_PEER_TRUSTED_CA_FILE (/etc/etcd.env) start']);
    assert.deepEqual(p.restarts.trust, ['etcd']);
    assert.ok(p.signed.length > 0, 'the member, admin and node certificates');
  });
});

describe('ca plan on the real-world trees', { skip: fixturesPresent ? false : SKIP_REASON }, () => {
  for (const name of caseNames()) {
    test(name, (t) => {
      const fx = copyCase(name);
      roots.push(fx.root);
      const before = hashTree(fx.root);
      const { status, plan: p, text } = plan(fx.root, 'ca', fx.flags);
      t.diagnostic(`trusted by: ${vias(p).join('; ')}; signed: ${p.signed.map((s) => s.name).join(', ')}`);
      assert.ok([0, 2].includes(status), `${name}: exit ${status}`);
      if (!p.ca.present) return assert.equal(status, 2, `${name}: no CA, nothing to rotate`);
      assert.equal(status, p.ca.expired ? 2 : 0, `${name}: ${text.slice(0, 400)}`);
      const signed = p.signed.map((s) => s.name);
      assert.ok(signed.length > 0, `${name}: the CA signed something here`);
      const manifests = join(fx.root, 'etc/kubernetes/manifests/kube-apiserver.yaml');
      if (existsSync(manifests) && signed.includes('apiserver'))
        assert.ok(vias(p).includes('kube-apiserver --client-ca-file change'), `${name}: ${vias(p)}`);
      const caFile = join(fx.root, 'etc/kubernetes/pki/ca.crt');
      if (existsSync(caFile) && fx.flags.length === 0) assert.equal(p.ca.joinHash, opensslCaHash(caFile), name);
      assert.equal(hashTree(fx.root), before, `${name}: nothing written`);
    });
  }
});
