// kpki kubeconfig update / user on a node tree: a user's kubeconfig with other clusters keeps them (checked with real
// kubectl and line by line), a missing one is created 0600, and `kubeconfig user` issues what openssl verifies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { kpki } from '../helpers/kpki.js';
import { sharedExpiredNode } from '../helpers/lab.js';
import { certFacts, tempFile, verifies } from '../helpers/openssl.js';

const node = sharedExpiredNode();
const b64 = (s: string) => Buffer.from(s).toString('base64');
const dataOf = (text: string, key: string) => [...text.matchAll(new RegExp(`${key}: (\\S+)`, 'g'))].map((m) => m[1]);

/** A user's kubeconfig: this cluster's admin (old credentials) plus a cluster with token auth, comments and prefs. */
function userKubeconfig(adminConf: string): string {
  const [ca] = dataOf(adminConf, 'certificate-authority-data');
  const [cert] = dataOf(adminConf, 'client-certificate-data');
  const [key] = dataOf(adminConf, 'client-key-data');
  return `# my clusters
apiVersion: v1
kind: Config
preferences:
  colors: true
current-context: prod
clusters:
- name: prod-cluster # the other cluster
  cluster:
    server: https://prod.example.invalid:6443
    certificate-authority-data: ${b64('not the same CA')}
- name: lab
  cluster:
    server: https://lab-api:6443
    certificate-authority-data: ${ca}
contexts:
- name: prod
  context: {cluster: prod-cluster, user: prod-user, namespace: payments}
- name: lab-admin
  context: {cluster: lab, user: lab-admin}
users:
- name: prod-user
  user:
    token: secret-token
- name: lab-admin
  user:
    client-certificate-data: ${cert}
    client-key-data: ${key}
`;
}

function kubectl(kubeconfig: string, args: string[]) {
  return spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' });
}
const haveKubectl = spawnSync('sh', ['-c', 'command -v kubectl']).status === 0;

test("kubeconfig update replaces only this cluster's admin credentials and keeps every other context", {
  skip: haveKubectl ? false : 'kubectl not installed',
}, () => {
  const root = node.fresh();
  const oldAdmin = readFileSync(join(root, 'etc/kubernetes/admin.conf'), 'utf8');
  const userPath = join(root, 'root/.kube/config');
  mkdirSync(join(root, 'root/.kube'), { recursive: true });
  const original = userKubeconfig(oldAdmin);
  writeFileSync(userPath, original, { mode: 0o600 });
  assert.equal(kpki(['--root', root, 'renew', 'admin.conf', '--yes']).status, 0);
  const renewed = readFileSync(join(root, 'etc/kubernetes/admin.conf'), 'utf8');

  const dry = kpki(['--root', root, 'kubeconfig', 'update', '--dry-run']);
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /user lab-admin: client certificate and key replaced \(CN=kubernetes-admin\)/);
  assert.equal(readFileSync(userPath, 'utf8'), original, 'a dry run changes nothing');

  const r = kpki(['--root', root, 'kubeconfig', 'update']);
  assert.equal(r.status, 0, r.stderr);
  const updated = readFileSync(userPath, 'utf8');
  // Line by line: only the two credential lines of the lab-admin user differ.
  const before = original.split('\n');
  const after = updated.split('\n');
  assert.equal(after.length, before.length);
  const changed = after.map((line, i) => (line === before[i] ? '' : line.trim().split(':')[0])).filter(Boolean);
  assert.deepEqual(changed, ['client-certificate-data', 'client-key-data']);
  assert.deepEqual(dataOf(updated, 'client-certificate-data'), dataOf(renewed, 'client-certificate-data'));
  assert.equal(statSync(userPath).mode & 0o777, 0o600);

  // Real kubectl reads it: both contexts there, the current one unchanged, the lab user holds the renewed certificate.
  assert.deepEqual(kubectl(userPath, ['config', 'get-contexts', '-o', 'name']).stdout.trim().split('\n').sort(), ['lab-admin', 'prod']);
  assert.equal(kubectl(userPath, ['config', 'current-context']).stdout.trim(), 'prod');
  const view = kubectl(userPath, [
    'config',
    'view',
    '--raw',
    '--minify',
    '--context',
    'lab-admin',
    '-o',
    'jsonpath={.users[0].user.client-certificate-data}',
  ]);
  assert.equal(view.stdout, dataOf(renewed, 'client-certificate-data')[0]);
  assert.match(kpki(['--root', root, 'backups']).stdout, /kubeconfig update/);
  assert.match(kpki(['--root', root, 'kubeconfig', 'update']).stdout, /already has these credentials[\s\S]*Nothing to change/);
});

test('kubeconfig update creates a missing kubeconfig (0600), and refuses a broken one naming it, changing nothing', () => {
  const root = node.fresh();
  const r = kpki(['--root', root, 'kubeconfig', 'update', '--to', '/home/ops/.kube/config']);
  assert.equal(r.status, 0, r.stderr);
  const created = join(root, 'home/ops/.kube/config');
  assert.equal(readFileSync(created, 'utf8'), readFileSync(join(root, 'etc/kubernetes/admin.conf'), 'utf8'));
  assert.equal(statSync(created).mode & 0o777, 0o600);
  writeFileSync(created, 'clusters: [unclosed\n');
  const broken = kpki(['--root', root, 'kubeconfig', 'update', '--to', '/home/ops/.kube/config']);
  assert.equal(broken.status, 1);
  assert.match(broken.stderr, /home\/ops\/\.kube\/config.*not valid YAML/);
  assert.equal(readFileSync(created, 'utf8'), 'clusters: [unclosed\n');
});

test('kubeconfig user issues a client kubeconfig from the cluster CA (e.g. super-admin.conf), judged by openssl', () => {
  const root = node.fresh();
  const out = '/etc/kubernetes/super-admin.conf';
  assert.equal(existsSync(join(root, out)), true);
  const r = kpki([
    '--root',
    root,
    'kubeconfig',
    'user',
    'kubernetes-super-admin',
    '--group',
    'system:masters',
    '--validity',
    '720h',
    '--out',
    out,
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Wrote .*super-admin\.conf for kubernetes-super-admin \(groups system:masters\)/);
  const text = readFileSync(join(root, out), 'utf8');
  const certFile = tempFile(Buffer.from(dataOf(text, 'client-certificate-data')[0], 'base64'));
  assert.ok(verifies(join(root, 'etc/kubernetes/pki/ca.crt'), certFile).ok);
  const facts = certFacts(certFile);
  assert.equal(facts.subject, 'CN=kubernetes-super-admin,O=system:masters');
  assert.equal(facts.eku, 'TLS Web Client Authentication');
  assert.ok(Math.abs(facts.notAfter.getTime() - (Date.now() + 720 * 3_600_000)) < 120_000);
  assert.equal(statSync(join(root, out)).mode & 0o777, 0o600);
  const check = kpki(['--root', root, 'check']);
  assert.match(check.stdout, /^super-admin\.conf\s+.* UTC\s+29d\s+ca\s+no\s+expiring in 29d$/m);
  const printed = kpki(['--root', root, 'kubeconfig', 'user', 'jane', '--group', 'devs']);
  assert.match(printed.stdout, /^apiVersion: v1\n[\s\S]*name: jane/);
});
