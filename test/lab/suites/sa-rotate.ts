// kpki ca rotate -i --ca sa on the running lab under load. The API server stand-in reads --service-account-key-file
// and --service-account-signing-key-file only at start, verifies bearer tokens with every key of sa.pub, signs
// TokenRequests with sa.key and publishes its keys at /openid/v1/jwks, as kube-apiserver does (no kube-apiserver
// binary runs here). An in-cluster client renews its token every 2 s, as the kubelet renews projected tokens, and uses
// it through the Service (a 401 is not retried elsewhere): it must never be refused, while the load-balanced client
// sees zero failures. finish is refused until the new key has signed for --token-overlap; afterwards real kubectl
// with a token the old key signed gets Unauthorized and with a new one works. The issue phase is refused while a
// running API server does not verify the new key (sa.pub written by hand, nothing restarted; restored afterwards).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabNode } from '../../../lab/lab.js';
import { summarize } from '../../../lab/load.js';
import { kubeRequest, loadKubeconfig } from '../../../lab/standins/kube-client.js';
import { publicKeysOf, serviceAccountKeyId } from '../../../src/pki/public-keys.js';
import { kpkiAsync, kpkiKilledWhen } from '../../helpers/kpki.js';
import { apiUrl, eventually, kubectl } from '../../helpers/lab-tools.js';
import { controlPlaneHashes, lab, restoreLatestEverywhere, skip, trustByHand, underLoad } from './shared.js';
import { assertServed } from '../../helpers/load-bounds.js';

const SA_PUB = '/etc/kubernetes/pki/sa.pub';
const SA_KEY = '/etc/kubernetes/pki/sa.key';

async function rotate(args: string[]): Promise<{ status: number; out: string }> {
  const r = await kpkiAsync(['ca', 'rotate', '--ca', 'sa', ...args, '--yes']);
  return { status: r.status, out: r.stdout + r.stderr };
}

/** The key IDs a node's running API server verifies tokens with, as real kubectl reads them. */
async function jwks(node: LabNode): Promise<string[]> {
  const r = await kubectl(lab().adminKubeconfig, ['get', '--raw', '/openid/v1/jwks'], apiUrl(node));
  assert.equal(r.code, 0, r.out);
  return JSON.parse(r.stdout).keys.map((k: { kid: string }) => k.kid);
}

/** A kubeconfig that authenticates with a service-account token only (what a pod's client-go does). */
function tokenKubeconfig(node: LabNode, token: string, name: string): string {
  const file = join(lab().dir, `${name}.kubeconfig`);
  const ca = node.read('/etc/kubernetes/pki/ca.crt').toString('base64');
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: ${apiUrl(node)}
    certificate-authority-data: ${ca}
users:
- name: pod
  user:
    token: ${token}
contexts:
- name: pod
  context: {cluster: lab, user: pod}
current-context: pod
`,
    { mode: 0o600 },
  );
  return file;
}

/** A token from TokenRequest, through real kubectl (kubectl create token). */
async function createToken(node: LabNode): Promise<string> {
  const r = await kubectl(lab().adminKubeconfig, ['create', 'token', 'default', '-n', 'lab-load'], apiUrl(node));
  assert.equal(r.code, 0, r.out);
  return r.stdout.trim();
}

/**
 * A legacy token Secret as the controller-manager's token controller writes one: a JWT with the legacy claims, signed
 * by sa.key (RS256/ES256), in data.token of a kubernetes.io/service-account-token Secret.
 */
async function createLegacyTokenSecret(node: LabNode, name: string): Promise<void> {
  const key = createPrivateKey(node.read(SA_KEY));
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const header = b64({ alg: key.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256', kid: serviceAccountKeyId(createPublicKey(key)) });
  const claims = b64({
    iss: 'kubernetes/serviceaccount',
    'kubernetes.io/serviceaccount/namespace': 'lab-load',
    'kubernetes.io/serviceaccount/secret.name': name,
    'kubernetes.io/serviceaccount/service-account.name': 'default',
    sub: 'system:serviceaccount:lab-load:default',
  });
  const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  const res = await kubeRequest(loadKubeconfig(lab().adminKubeconfig), 'POST', '/api/v1/namespaces/lab-load/secrets', {
    server: apiUrl(node),
    body: {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/service-account-token',
      metadata: { name, namespace: 'lab-load', annotations: { 'kubernetes.io/service-account.name': 'default' } },
      data: { token: Buffer.from(`${header}.${claims}.${signature}`).toString('base64') },
    },
  });
  assert.equal(res.status, 201, res.body);
}

const keyIdOfFile = (node: LabNode, path: string) => publicKeysOf(node.read(path)).map(serviceAccountKeyId);

test('ca rotate -i refuses the sa issue phase while a running API server does not verify the new key (sa.pub written by hand, no restart); kpki restore puts every byte back', {
  skip,
}, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  const pristine = controlPlaneHashes();
  const { saved, outputs } = await trustByHand('sa');
  for (const out of outputs) assert.match(out, /Restart kube-apiserver \(they read the changed CA file only at start\)/);
  const newKid = publicKeysOf(readFileSync(join(saved, 'sa.pub'))).map(serviceAccountKeyId);
  for (const node of cluster.controlPlanes) assert.equal(keyIdOfFile(node, SA_PUB).length, 2, `${node.name}: sa.pub holds old + new`);
  for (const node of cluster.controlPlanes)
    assert.ok(!(await jwks(node)).includes(newKid[0]), `${node.name}: its running API server does not know the new key`);
  const before = controlPlaneHashes();
  const refused = await rotate(['-i', inventory, '--phase', 'issue']);
  assert.equal(refused.status, 1, refused.out);
  assert.match(refused.out, /Refusing the issue phase of sa: a running kube-apiserver does not verify the new key yet/);
  for (const node of cluster.controlPlanes)
    assert.match(refused.out, new RegExp(`${node.name}: the running kube-apiserver does not verify tokens signed by the new key`));
  assert.deepEqual(controlPlaneHashes(), before, 'nothing written on any node');
  // the hand-made trust phase undone from its backups: the files are as they were, and as the servers run them
  await restoreLatestEverywhere(pristine);
});

test('ca rotate -i --ca sa phase by phase under load, the issue phase killed at node 2 and resumed: no token refused, zero failed balanced requests; finish waits for the token overlap; old tokens Unauthorized afterwards', {
  skip,
}, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  const [cp1] = cluster.controlPlanes;
  const oldKid = keyIdOfFile(cp1, SA_PUB);
  assert.equal(oldKid.length, 1);
  for (const node of cluster.controlPlanes) assert.deepEqual(await jwks(node), oldKid, `${node.name} verifies with one key`);
  const oldToken = await createToken(cp1);
  const oldTokenConfig = tokenKubeconfig(cp1, oldToken, 'old-token');
  const works = await kubectl(oldTokenConfig, ['get', 'nodes']);
  assert.equal(works.code, 0, `a token of the old key works before the rotation: ${works.out}`);
  const legacy = `legacy-token-${Date.now()}`;
  await createLegacyTokenSecret(cp1, legacy);

  const { value: runs, report } = await underLoad(
    async (load) => {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const trust = await rotate(['-i', inventory, '--phase', 'trust']);
      const afterTrust = await Promise.all(cluster.controlPlanes.map(jwks));
      const check = await kpkiAsync(['check', '-i', inventory]);
      // the issue phase killed while node 2's API server restarts (node 1 signs with the new key, 2 and 3 with the
      // old): the same command is refused, --resume completes it; no token is refused meanwhile
      const killed = await kpkiKilledWhen(
        ['ca', 'rotate', '--ca', 'sa', '-i', inventory, '--phase', 'issue', '--yes'],
        /lab-cp2: +kube-apiserver: manifest moved to/,
      );
      const interrupted = await rotate(['-i', inventory, '--phase', 'issue']);
      const issue = await rotate(['-i', inventory, '--phase', 'issue', '--resume']);
      const verify = await rotate(['-i', inventory, '--phase', 'verify']);
      const before = controlPlaneHashes();
      const tooSoon = await rotate(['-i', inventory, '--phase', 'finish']);
      const unchanged = controlPlaneHashes();
      // the in-cluster client renews its token every 2 s: two renewals after issue, and none it holds was signed by
      // the old key
      const renewed = load.tokensFetched;
      await eventually(
        'two fresh service-account tokens',
        async () => load.tokensFetched,
        (n) => n >= renewed + 2,
        30_000,
      );
      const finish = await rotate(['-i', inventory, '--phase', 'finish', '--token-overlap', '4s']);
      await cluster.waitHealthy(90_000);
      return { trust, afterTrust, check, killed, interrupted, issue, verify, tooSoon, before, unchanged, finish };
    },
    { serviceAccount: { refreshMs: 2000 } },
  );
  console.log(`ca rotate sa: ${summarize(report)}`);
  const { trust, afterTrust, check, killed, interrupted, issue, verify, tooSoon, before, unchanged, finish } = runs;
  assert.equal(trust.status, 0, trust.out);
  assert.match(trust.out, /New service-account key: (RSA-\d+|ECDSA-P\d+), key ID \S+ \(made in memory \(\1, as the old key\)\)/);
  assert.match(
    trust.out,
    /lab-cp1 \(one key\): \/etc\/kubernetes\/pki\/sa-next\.key, \/etc\/kubernetes\/pki\/sa\.pub; restart kube-apiserver/,
  );
  assert.match(trust.out, /sa trust phase complete on 3 control-plane node\(s\)/);
  const newKid = keyIdOfFile(cp1, '/etc/kubernetes/pki/sa.key');
  for (const ids of afterTrust) assert.equal(ids.length, 2, `every API server verifies old + new after trust: ${ids}`);
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.equal((check.stdout.match(/Service-account key rotation in progress: sa\.pub verifies 2 keys/g) ?? []).length, 3, check.stdout);

  assert.equal(killed.signal, 'SIGKILL', `the issue phase ended before it was killed:\n${killed.out}`);
  assert.match(killed.out, /Every running kube-apiserver verifies tokens signed by the new key/);
  assert.equal(interrupted.status, 1, interrupted.out);
  assert.match(interrupted.out, /The issue phase of rollout r\S+ .* was interrupted: continue it with --resume/);
  assert.equal(issue.status, 0, issue.out);
  assert.match(issue.out, /Resuming the issue phase of rollout r\S+ .*: lab-cp1 done, lab-cp2 written, lab-cp3 pending/);
  assert.match(issue.out, /sa issue phase complete on 2 control-plane node\(s\)/);
  assert.match(
    killed.out,
    /lab-cp1 \(verifies old \+ new, the old signs\): .*sa\.key, .*sa\.pub, .*sa-next\.key; restart kube-apiserver, kube-controller-manager/,
  );
  assert.equal(verify.status, 0, verify.out);
  assert.match(verify.out, /sa verified/);

  assert.equal(tooSoon.status, 1, tooSoon.out);
  assert.match(tooSoon.out, /Refusing to drop the old service-account key yet/);
  for (const node of cluster.controlPlanes)
    assert.match(tooSoon.out, new RegExp(`${node.name}: the new service-account key signs since .* \\(--token-overlap 60 min\\)`));
  assert.deepEqual(unchanged, before, 'finish refused: nothing written on any node');

  assert.equal(finish.status, 0, finish.out);
  assert.match(finish.out, /sa finish phase complete on 3 control-plane node\(s\)/);
  assert.match(
    finish.out,
    new RegExp(`1 legacy token Secret\\(s\\) signed by the old key stop working at finish .*: lab-load/${legacy}`),
    'the legacy token Secret the old key signed is named',
  );
  assert.match(verify.out, new RegExp(`signed by the old key stop working at finish .*lab-load/${legacy}`));

  assert.equal(
    report.inCluster?.unauthorized,
    0,
    `no token refused: ${JSON.stringify(report.failures.filter((f) => f.client === 'in-cluster').slice(0, 5))}`,
  );
  assert.equal(report.inCluster?.failed, 0, 'every in-cluster request answered');
  assert.ok((report.inCluster?.tokens ?? 0) >= 10, `tokens were renewed throughout (${report.inCluster?.tokens})`);
  // kube-apiserver restarts at trust, issue and finish; the issue phase killed at node 2 and resumed restarts it again
  assertServed(report, 'ca rotate sa', 4);

  const newKey = createPublicKey(createPrivateKey(cp1.read(SA_KEY)));
  assert.notDeepEqual(newKid, oldKid);
  for (const node of cluster.controlPlanes) {
    assert.deepEqual(keyIdOfFile(node, SA_PUB), newKid, `${node.name}: sa.pub holds the new key alone`);
    assert.ok(createPublicKey(createPrivateKey(node.read(SA_KEY))).equals(newKey), `${node.name}: every node signs with the same new key`);
    assert.deepEqual(await jwks(node), newKid, `${node.name}: its API server verifies with the new key alone`);
  }
  const refused = await kubectl(oldTokenConfig, ['get', 'nodes']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.out, /Unauthorized/, 'a token of the old key is refused after finish');
  const fresh = await kubectl(tokenKubeconfig(cp1, await createToken(cp1), 'new-token'), ['get', 'nodes']);
  assert.equal(fresh.code, 0, `a token of the new key works: ${fresh.out}`);
});
