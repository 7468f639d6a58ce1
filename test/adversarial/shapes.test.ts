// Shapes real files take that once broke kpki: a kubeadm config of several documents (Kubespray and mklab write
// InitConfiguration --- ClusterConfiguration), a user's kubeconfig whose certificate lives in files, an admin.conf
// whose current context someone switched to a token user, a negative serial (real CAs made them), and an inventory
// host range that stands for fifty million hosts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { sharedHealthyNode } from '../helpers/lab.js';
import { kpki, removeTree, tempRoot } from '../helpers/kpki.js';
import { certFacts, openssl, publicKeyOfCert, publicKeyOfKey } from '../helpers/openssl.js';
import { kpkiBounded } from './hostile.js';

const { fresh } = sharedHealthyNode();
const PKI = 'etc/kubernetes/pki';

const MULTI_DOCUMENT = `# as Kubespray and kubeadm init --config write it
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 127.0.0.11
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
apiServer:
  certSANs:
  - old.example.com
controlPlaneEndpoint: 127.0.0.11:6443
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
`;

test('a multi-document kubeadm config: san add and renew --key-algorithm record the change in its ClusterConfiguration, the other documents kept', () => {
  const root = fresh();
  const config = join(root, 'etc/kubernetes/kubeadm-config.yaml');
  writeFileSync(config, MULTI_DOCUMENT);
  const dry = kpki(['--root', root, 'san', 'add', 'DNS:lb.example.com', '--dry-run']);
  assert.equal(dry.status, 0, dry.stderr);
  const san = kpki(['--root', root, 'san', 'add', 'DNS:lb.example.com', '--yes']);
  assert.equal(san.status, 0, san.stdout + san.stderr);
  assert.match(certFacts(join(root, PKI, 'apiserver.crt')).sans, /DNS:lb\.example\.com/);
  const renewed = kpki(['--root', root, 'renew', 'apiserver', '--key-algorithm', 'ECDSA-P384', '--yes']);
  assert.equal(renewed.status, 0, renewed.stdout + renewed.stderr);
  assert.equal(publicKeyOfCert(join(root, PKI, 'apiserver.crt')), publicKeyOfKey(join(root, PKI, 'apiserver.key')));
  const text = readFileSync(config, 'utf8');
  const docs = text.split(/^---$/m).map((d) => parse(d));
  assert.deepEqual(
    docs.map((d) => d.kind),
    ['InitConfiguration', 'ClusterConfiguration', 'KubeletConfiguration'],
  );
  assert.deepEqual(docs[1].apiServer.certSANs, ['old.example.com', 'lb.example.com']);
  assert.equal(docs[1].encryptionAlgorithm, 'ECDSA-P384');
  assert.equal(docs[2].cgroupDriver, 'systemd');
  assert.match(text, /^# as Kubespray and kubeadm init --config write it$/m, 'comments kept');
});

test('kubeconfig update: a user whose certificate and key are files (relative paths) gets the renewed ones in those files, no duplicate user', () => {
  const root = fresh();
  const home = join(root, 'root/.kube');
  mkdirSync(join(home, 'certs'), { recursive: true });
  // the admin.conf identity, kept in files as some operators keep it, and expired
  const admin = parse(readFileSync(join(root, 'etc/kubernetes/admin.conf'), 'utf8'));
  const adminKey = Buffer.from(admin.users[0].user['client-key-data'], 'base64');
  writeFileSync(join(home, 'certs/admin.key'), adminKey, { mode: 0o600 });
  const csr = join(home, 'certs/admin.csr');
  writeFileSync(
    csr,
    openssl(['req', '-new', '-key', join(home, 'certs/admin.key'), '-subj', '/O=kubeadm:cluster-admins/CN=kubernetes-admin']).stdout,
  );
  const signed = openssl(['x509', '-req', '-in', csr, '-CA', join(root, PKI, 'ca.crt'), '-CAkey', join(root, PKI, 'ca.key'), '-days', '1']);
  writeFileSync(join(home, 'certs/admin.crt'), signed.stdout);
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kubernetes', cluster: admin.clusters[0].cluster }],
    users: [{ name: 'kubernetes-admin', user: { 'client-certificate': 'certs/admin.crt', 'client-key': 'certs/admin.key' } }],
    contexts: [{ name: 'admin@kubernetes', context: { cluster: 'kubernetes', user: 'kubernetes-admin' } }],
    'current-context': 'admin@kubernetes',
  };
  writeFileSync(join(home, 'config'), stringify(kubeconfig), { mode: 0o600 });
  const before = readFileSync(join(home, 'config'), 'utf8');
  const r = kpki(['--root', root, 'kubeconfig', 'update']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /user kubernetes-admin: client certificate and key replaced in certs\/admin\.crt and certs\/admin\.key/);
  assert.equal(readFileSync(join(home, 'config'), 'utf8'), before, 'the kubeconfig itself is unchanged: no second user, no second context');
  const newCert = Buffer.from(admin.users[0].user['client-certificate-data'], 'base64').toString();
  assert.equal(readFileSync(join(home, 'certs/admin.crt'), 'utf8').trim(), newCert.trim());
  assert.equal(publicKeyOfCert(join(home, 'certs/admin.crt')), publicKeyOfKey(join(home, 'certs/admin.key')));
  assert.equal(kpki(['--root', root, 'kubeconfig', 'update']).stdout.includes('already has these credentials'), true);
});

test('admin.conf whose current context is a token user: its kubernetes-admin certificate is still checked and renewed', () => {
  const root = tempRoot('kpki-token-admin-');
  try {
    execFileSync('cp', ['-a', `${fresh()}/.`, root]);
    const path = join(root, 'etc/kubernetes/admin.conf');
    const admin = parse(readFileSync(path, 'utf8'));
    admin.users.push({ name: 'oidc', user: { token: 'not-a-real-token' } });
    admin.contexts.push({ name: 'oidc@kubernetes', context: { cluster: 'kubernetes', user: 'oidc' } });
    admin['current-context'] = 'oidc@kubernetes';
    writeFileSync(path, stringify(admin), { mode: 0o600 });
    const check = JSON.parse(kpki(['--root', root, 'check', '-o', 'json']).stdout);
    const entry = check.certificates.find((c: { name: string }) => c.name === 'admin.conf');
    assert.ok(entry?.notAfter, 'admin.conf is listed with its certificate');
    const before = Buffer.from(admin.users[0].user['client-certificate-data'], 'base64').toString();
    const r = kpki(['--root', root, 'renew', 'admin.conf', '--yes']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const after = parse(readFileSync(path, 'utf8'));
    assert.notEqual(Buffer.from(after.users[0].user['client-certificate-data'], 'base64').toString(), before, 'renewed');
    assert.deepEqual(after.users[1], { name: 'oidc', user: { token: 'not-a-real-token' } }, 'the token user is kept');
    assert.equal(after['current-context'], 'oidc@kubernetes', 'and the current context');
  } finally {
    removeTree(root);
  }
});

test("a negative serial is exported as Go prints it (-12345), not as its two's complement read as a positive number", () => {
  const root = fresh();
  const dir = join(root, PKI);
  const csr = openssl(['req', '-new', '-key', join(dir, 'front-proxy-client.key'), '-subj', '/CN=front-proxy-client']).stdout;
  const file = join(root, 'req.csr');
  writeFileSync(file, csr);
  const r = openssl([
    'x509',
    '-req',
    '-in',
    file,
    '-CA',
    join(dir, 'front-proxy-ca.crt'),
    '-CAkey',
    join(dir, 'front-proxy-ca.key'),
    '-set_serial',
    '-12345',
    '-days',
    '30',
  ]);
  assert.equal(r.status, 0, r.stderr);
  writeFileSync(join(dir, 'front-proxy-client.crt'), r.stdout);
  assert.match(openssl(['x509', '-noout', '-serial', '-in', join(dir, 'front-proxy-client.crt')]).stdout, /serial=-3039/);
  const metrics = kpki(['--root', root, 'exporter', '--once']).stdout;
  assert.match(metrics, /x509_cert_not_after\{[^}]*filename="front-proxy-client\.crt"[^}]*serial_number="-12345"/);
  assert.match(kpki(['--root', root, 'check', '-o', 'wide']).stdout, /front-proxy-client .* -3039 /);
});

test('an inventory host range that stands for fifty million hosts is a usage error naming the line, at once', () => {
  const dir = tempRoot('kpki-inventory-');
  try {
    const ini = join(dir, 'hosts.ini');
    writeFileSync(ini, '[kube_control_plane]\ncp1 ansible_host=127.0.0.11\n\n[kube_node]\nn[1:50000000] ansible_host=127.0.0.12\n');
    const r = kpkiBounded(['-i', ini, 'check']);
    assert.equal(r.hung, false);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /hosts\.ini:5: the host range "n\[1:50000000\]" stands for 50000000 hosts: kpki takes at most 5000/);
    const yaml = join(dir, 'hosts.yaml');
    writeFileSync(yaml, 'all:\n  children:\n    kube_control_plane:\n      hosts:\n        "cp[1:9999999][1:9999999]": {}\n');
    const y = kpkiBounded(['-i', yaml, 'check']);
    assert.equal(y.status, 2, y.stderr);
    assert.match(y.stderr, /hosts\.yaml:5: the host range .* stands for more than 10\^15 hosts|stands for 99999980000001 hosts/);
    writeFileSync(yaml, 'nodes:\n  - { name: "../../x", address: 127.0.0.11, role: control-plane }\n');
    const named = kpkiBounded(['-i', yaml, 'check']);
    assert.equal(named.status, 2, named.stderr);
    assert.match(named.stderr, /the node name "\.\.\/\.\.\/x" is not a host name/);
  } finally {
    removeTree(dir);
  }
});
