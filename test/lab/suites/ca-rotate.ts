// kpki ca rotate -i on the running lab under load (real etcd 3.4 with the certificates kpki writes; the API server
// stand-in reloads --requestheader-client-ca-file on change and republishes extension-apiserver-authentication, as
// kube-apiserver does). etcd-ca: every phase in one run, then openssl verifies every etcd certificate of every node
// against the new CA only, the old CA no longer verifies them, and etcd serves chains of the new CA (and is healthy).
// front-proxy-ca: phase by phase, verify refusing to pass before the issue phase, the ConfigMap holding old + new
// between trust and finish. A rotation killed in the middle of each writing phase is refused without --resume and
// finished with it, under load. An issue phase is refused while a running etcd member does not trust the new CA yet (bundles written by
// hand, nothing restarted; restored afterwards). The load-balanced client (it retries the next control-plane node) must see zero failures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import type { LabNode } from '../../../lab/lab.js';
import { summarize } from '../../../lab/load.js';
import { kpkiAsync, kpkiKilledWhen } from '../../helpers/kpki.js';
import { etcdctl, kubectl } from '../../helpers/lab-tools.js';
import { pemCount, tempFile, verifies } from '../../helpers/openssl.js';
import { controlPlaneHashes, lab, restoreLatestEverywhere, skip, trustByHand, underLoad } from './shared.js';
import { assertServed } from '../../helpers/load-bounds.js';

const ETCD_LEAVES = ['etcd/server', 'etcd/peer', 'etcd/healthcheck-client', 'apiserver-etcd-client'];

/** A TLS handshake with etcd's client port trusting only `ca`: did it verify? */
function etcdVerifiesWith(node: LabNode, ca: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect(
      {
        host: node.address,
        port: 2379,
        ca,
        cert: node.read('/etc/kubernetes/pki/etcd/healthcheck-client.crt'),
        key: node.read('/etc/kubernetes/pki/etcd/healthcheck-client.key'),
        timeout: 3000,
      },
      () => {
        socket.destroy();
        resolve('ok');
      },
    );
    socket.on('error', (err) => resolve(err.message));
  });
}

async function rotate(args: string[]): Promise<{ status: number; out: string }> {
  const r = await kpkiAsync(['ca', 'rotate', ...args, '--yes']);
  return { status: r.status, out: r.stdout + r.stderr };
}

test('ca rotate -i --ca etcd-ca (every phase) under load: zero failed balanced requests, no write lost; every etcd certificate from the new CA only; etcd healthy', {
  skip,
}, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  const [cp1] = cluster.controlPlanes;
  const oldCa = cp1.read('/etc/kubernetes/pki/etcd/ca.crt');

  const dry = await rotate(['-i', inventory, '--ca', 'etcd-ca', '--dry-run']);
  assert.equal(dry.status, 0, dry.out);
  assert.match(
    dry.out,
    /lab-cp1 \(one CA\): \/etc\/kubernetes\/pki\/etcd\/ca-next\.key, \/etc\/kubernetes\/pki\/etcd\/ca-next\.crt, \/etc\/kubernetes\/pki\/etcd\/ca\.crt; restart etcd, kube-apiserver/,
  );
  assert.match(dry.out, /\(the phases after trust are planned when trust has run\)/);
  assert.deepEqual(cp1.read('/etc/kubernetes/pki/etcd/ca.crt'), oldCa, 'a dry run changes nothing');

  const saved = join(cluster.dir, 'saved-etcd-ca');
  const { value: r, report } = await underLoad(async () => {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const run = await rotate(['-i', inventory, '--ca', 'etcd-ca', '--save-ca', saved]);
    await cluster.waitHealthy(90_000);
    return run;
  });
  console.log(`ca rotate etcd-ca: ${summarize(report)}`);
  assert.equal(r.status, 0, r.out);
  for (const phase of ['trust', 'issue', 'finish'])
    assert.match(r.out, new RegExp(`etcd-ca ${phase} phase complete on 3 control-plane node\\(s\\)`));
  assert.match(
    r.out,
    /etcd-ca verified: every leaf on every control-plane node is signed by the new CA, every etcd member serves a chain of the new CA/,
  );
  assert.match(r.out, /Every running etcd member accepts a certificate of the new CA/, 'the trust gate passed before issue');
  // etcd and kube-apiserver restart at trust and finish, kube-apiserver at issue: 5 restarts per node
  assertServed(report, 'ca rotate etcd-ca', 5);

  assert.equal(statSync(saved).mode & 0o777, 0o700);
  assert.equal(statSync(join(saved, 'etcd-ca.key')).mode & 0o777, 0o600);
  const newCa = readFileSync(join(saved, 'etcd-ca.crt'));
  assert.notDeepEqual(newCa, oldCa);
  assert.equal(new X509Certificate(newCa).subject, new X509Certificate(oldCa).subject, 'the new CA keeps the subject');
  const newCaFile = tempFile(newCa);
  const oldCaFile = tempFile(oldCa);
  for (const node of cluster.controlPlanes) {
    assert.deepEqual(node.read('/etc/kubernetes/pki/etcd/ca.crt'), newCa, `${node.name}: etcd/ca.crt is the new CA alone`);
    const key = createPrivateKey(node.read('/etc/kubernetes/pki/etcd/ca.key'));
    assert.ok(new X509Certificate(newCa).checkPrivateKey(key), `${node.name}: etcd/ca.key is the new CA's key`);
    assert.equal(existsSync(node.path('/etc/kubernetes/pki/etcd/ca-next.crt')), false);
    assert.equal(existsSync(node.path('/etc/kubernetes/pki/etcd/ca-next.key')), false);
    for (const leaf of ETCD_LEAVES) {
      const file = node.path(`/etc/kubernetes/pki/${leaf}.crt`);
      assert.ok(verifies(newCaFile, file).ok, `${node.name} ${leaf}: openssl verifies it against the new CA`);
      assert.equal(verifies(oldCaFile, file).ok, false, `${node.name} ${leaf}: the old CA no longer verifies it`);
    }
    assert.equal(await etcdVerifiesWith(node, newCa), 'ok', `${node.name}: etcd serves a chain of the new CA`);
    assert.notEqual(await etcdVerifiesWith(node, oldCa), 'ok', `${node.name}: a client trusting only the old CA is refused`);
  }
  const health = await etcdctl(
    cp1,
    cluster.controlPlanes.map((n) => `https://${n.address}:2379`),
    ['endpoint', 'health'],
  );
  assert.equal(health.code, 0, health.out);
  assert.equal((health.out.match(/is healthy/g) ?? []).length, 3, health.out);

  const again = await rotate(['-i', inventory, '--ca', 'etcd-ca', '--phase', 'verify']);
  assert.equal(again.status, 0, again.out);
  assert.match(again.out, /No rotation of etcd-ca in progress: every node trusts one CA/);
});

test('ca rotate -i --ca front-proxy-ca phase by phase under load, the issue phase killed at node 2 and resumed: verify fails before issue; extension-apiserver-authentication holds old + new in between, the new alone after finish', {
  skip,
}, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  const [cp1] = cluster.controlPlanes;
  const configMap = async () => {
    const cm = await kubectl(
      cluster.adminKubeconfig,
      [
        'get',
        'configmap',
        '-n',
        'kube-system',
        'extension-apiserver-authentication',
        '-o',
        'jsonpath={.data.requestheader-client-ca-file}',
      ],
      cluster.endpointUrl,
    );
    assert.equal(cm.code, 0, cm.out);
    return cm.stdout;
  };
  let published = '';
  const { report } = await underLoad(async () => {
    const trust = await rotate(['-i', inventory, '--ca', 'front-proxy-ca', '--phase', 'trust']);
    assert.equal(trust.status, 0, trust.out);
    assert.match(trust.out, /lab-cp1 \(one CA\): .*front-proxy-ca\.crt; no restart/);
    for (const node of cluster.controlPlanes) assert.equal(pemCount(node.read('/etc/kubernetes/pki/front-proxy-ca.crt')), 2, node.name);
    // kube-apiserver reloads the file and republishes it: no restart needed
    for (let i = 0; i < 40 && pemCount(published) !== 2; i++) {
      published = await configMap();
      if (pemCount(published) !== 2) await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(pemCount(published), 2, 'extension-apiserver-authentication holds old + new');
    // kpki check -i shows the rotation in progress, and it is no problem (exit 0)
    const check = await kpkiAsync(['check', '-i', inventory]);
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.equal((check.stdout.match(/trusts 2 CAs \(rotation\)/g) ?? []).length, 3, check.stdout);

    const early = await rotate(['-i', inventory, '--ca', 'front-proxy-ca', '--phase', 'verify']);
    assert.equal(early.status, 1, early.out);
    assert.match(
      early.out,
      /lab-cp1: \/etc\/kubernetes\/pki\/front-proxy-ca\.crt: the old front-proxy-ca still signs \(issue phase not done\)/,
    );
    const tooSoon = await rotate(['-i', inventory, '--ca', 'front-proxy-ca', '--phase', 'finish']);
    assert.equal(tooSoon.status, 1, tooSoon.out);
    assert.match(tooSoon.out, /Refusing the finish phase of front-proxy-ca: the new CA must sign on every control-plane node first/);

    // the issue phase killed at node 2 right after its write: the same command is refused, --resume completes it
    const killed = await kpkiKilledWhen(
      ['ca', 'rotate', '-i', inventory, '--ca', 'front-proxy-ca', '--phase', 'issue', '--yes'],
      /lab-cp2: +renewed \d+ certificate/,
    );
    assert.equal(killed.signal, 'SIGKILL', `the issue phase ended before it was killed:\n${killed.out}`);
    const interrupted = await rotate(['-i', inventory, '--ca', 'front-proxy-ca', '--phase', 'issue']);
    assert.equal(interrupted.status, 1, interrupted.out);
    assert.match(interrupted.out, /The issue phase of rollout r\S+ .* was interrupted: continue it with --resume/);
    const issue = await rotate(['-i', inventory, '--ca', 'front-proxy-ca', '--phase', 'issue', '--resume']);
    assert.equal(issue.status, 0, issue.out);
    assert.match(issue.out, /Resuming the issue phase of rollout r\S+ .*: lab-cp1 done, lab-cp2 written, lab-cp3 pending/);
    const verify = await rotate(['-i', inventory, '--ca', 'front-proxy-ca', '--phase', 'verify']);
    assert.equal(verify.status, 0, verify.out);
    const finish = await rotate(['-i', inventory, '--ca', 'front-proxy-ca', '--phase', 'finish']);
    assert.equal(finish.status, 0, finish.out);
    await cluster.waitHealthy(90_000);
  });
  console.log(`ca rotate front-proxy-ca: ${summarize(report)}`);
  // kube-apiserver restarts at trust, issue and finish; the issue phase killed at node 2 and resumed restarts it again
  assertServed(report, 'ca rotate front-proxy-ca', 4);
  const newCa = cp1.read('/etc/kubernetes/pki/front-proxy-ca.crt');
  assert.equal(pemCount(newCa), 1);
  for (const node of cluster.controlPlanes) {
    assert.deepEqual(node.read('/etc/kubernetes/pki/front-proxy-ca.crt'), newCa, `${node.name}: the same new CA`);
    assert.ok(verifies(tempFile(newCa), node.path('/etc/kubernetes/pki/front-proxy-client.crt')).ok, node.name);
  }
  for (let i = 0; i < 40 && pemCount(published) !== 1; i++) {
    published = await configMap();
    if (pemCount(published) !== 1) await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal(published.replace(/\s+$/, ''), newCa.toString().replace(/\s+$/, ''), 'the ConfigMap holds the new CA alone');
});

test('ca rotate -i killed in the middle of each writing phase (trust, issue, finish) at node 2, under load: refused without --resume, finished with it, every node once, zero failed balanced requests', {
  skip,
}, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  const phase = (name: string) => ['ca', 'rotate', '-i', inventory, '--ca', 'etcd-ca', '--phase', name, '--yes'];
  const killedAt = async (name: string, when: RegExp): Promise<string> => {
    const { out, signal } = await kpkiKilledWhen(phase(name), when);
    assert.equal(signal, 'SIGKILL', `${name}: kpki ended before it was killed:\n${out}`);
    return JSON.parse(readFileSync(cluster.node(2).path('/var/lib/kpki/rollout.json'), 'utf8')).rollout;
  };
  // the whole kill-and-resume sequence under load: the cluster serves throughout (balanced clients retry the next node)
  const { value: rollout, report } = await underLoad(async () => {
    // trust: killed while node 2's etcd is down for its restart (its manifest parked)
    await killedAt('trust', /lab-cp2: +etcd: manifest moved to/);
    const trustRefused = await rotate(['-i', inventory, '--ca', 'etcd-ca', '--phase', 'trust']);
    assert.equal(trustRefused.status, 1, trustRefused.out);
    assert.match(trustRefused.out, /The trust phase of rollout r\S+ .* was interrupted: continue it with --resume/);
    const trust = await rotate(['-i', inventory, '--ca', 'etcd-ca', '--phase', 'trust', '--resume']);
    assert.equal(trust.status, 0, trust.out);
    // every node once: node 1 was done before the kill, node 2 is finished where it stopped, node 3 done anew
    assert.match(trust.out, /Resuming the trust phase of rollout r\S+ .*: lab-cp1 done, lab-cp2 written, lab-cp3 pending/);
    assert.match(trust.out, /etcd-ca trust phase complete on 2 control-plane node\(s\)/);
    assert.match(trust.out, /lab-cp2: +moved \/etc\/kubernetes\/manifests\/etcd\.yaml back into place/);
    // only the cluster CA's trust phase has a first step of its own: etcd-ca's resumed trust is one pass, told as such
    assert.doesNotMatch(trust.out, /First step of the trust phase|continues/);

    // issue: killed while node 2's API server restarts
    const rollout = await killedAt('issue', /lab-cp2: +kube-apiserver: manifest moved to/);
    // a rotation is resumed only by ca rotate: renew -i --resume refuses it, naming the command, and changes nothing
    const before = controlPlaneHashes();
    const renew = await kpkiAsync(['-i', inventory, 'renew', 'all', '--resume', '--yes']);
    assert.equal(renew.status, 1, renew.stdout + renew.stderr);
    assert.match(
      renew.stdout + renew.stderr,
      /An interrupted ca rotate rollout r\S+ left its journal on the nodes: finish it first \(kpki ca rotate --ca etcd-ca --phase issue --resume\)/,
    );
    assert.deepEqual(controlPlaneHashes(), before, 'renew -i changed nothing');
    const refused = await rotate(['-i', inventory, '--ca', 'etcd-ca', '--phase', 'issue']);
    assert.equal(refused.status, 1, refused.out);
    assert.match(refused.out, /The issue phase of rollout r\S+ .* was interrupted: continue it with --resume/);
    const issued = await rotate(['-i', inventory, '--ca', 'etcd-ca', '--phase', 'issue', '--resume']);
    assert.equal(issued.status, 0, issued.out);
    assert.match(issued.out, /Resuming the issue phase of rollout r\S+ .*: lab-cp1 done, lab-cp2 written, lab-cp3 pending/);
    assert.match(issued.out, /etcd-ca issue phase complete on 2 control-plane node\(s\)/);
    assert.match(issued.out, /lab-cp2: +moved \/etc\/kubernetes\/manifests\/kube-apiserver\.yaml back into place/);

    // finish: killed at node 2's etcd restart; --phase all --resume skips the phases before it
    await killedAt('finish', /lab-cp2: +etcd: manifest moved to/);
    const finishRefused = await rotate(['-i', inventory, '--ca', 'etcd-ca', '--phase', 'finish']);
    assert.equal(finishRefused.status, 1, finishRefused.out);
    assert.match(finishRefused.out, /The finish phase of rollout r\S+ .* was interrupted: continue it with --resume/);
    const resumed = await rotate(['-i', inventory, '--ca', 'etcd-ca', '--phase', 'all', '--resume']);
    assert.equal(resumed.status, 0, resumed.out);
    assert.match(resumed.out, /The interrupted rotation is past the trust phase/);
    assert.match(resumed.out, /The interrupted rotation is past the issue phase/);
    assert.match(resumed.out, /Resuming the finish phase of rollout r\S+ .*: lab-cp1 done, lab-cp2 written, lab-cp3 pending/);
    // node 1 had finished before the kill: the resumed phase does nodes 2 and 3
    assert.match(resumed.out, /etcd-ca finish phase complete on 2 control-plane node\(s\)/);
    return rollout;
  });
  console.log(`ca rotate etcd-ca killed and resumed in each phase: ${summarize(report)}`);
  // 5 restarts per node, and node 2 killed in each phase while restarting: up to 3 more there
  assertServed(report, 'ca rotate etcd-ca killed and resumed', {
    [cluster.node(1).address]: 5,
    [cluster.node(2).address]: 8,
    [cluster.node(3).address]: 5,
  });
  await cluster.waitHealthy(90_000);
  const newCa = cluster.node(1).read('/etc/kubernetes/pki/etcd/ca.crt');
  assert.equal(pemCount(newCa), 1);
  for (const node of cluster.controlPlanes) {
    assert.deepEqual(node.read('/etc/kubernetes/pki/etcd/ca.crt'), newCa, node.name);
    assert.equal(existsSync(node.path('/var/lib/kpki/rollout.json')), false, `${node.name}: no journal left`);
    for (const leaf of ETCD_LEAVES)
      assert.ok(verifies(tempFile(newCa), node.path(`/etc/kubernetes/pki/${leaf}.crt`)).ok, `${node.name} ${leaf}`);
    const backups = node.path('/var/lib/kpki/backups');
    const issuedHere = readdirSync(backups).filter((id) =>
      JSON.parse(readFileSync(join(backups, id, 'manifest.json'), 'utf8')).reason.includes(rollout),
    );
    assert.equal(issuedHere.length, 1, `${node.name}: the issue phase wrote once`);
  }
});

test('ca rotate -i refuses the etcd-ca issue phase while a running etcd member does not trust the new CA yet (bundles written by hand, no restart); kpki restore puts every byte back', {
  skip,
}, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  const pristine = controlPlaneHashes();
  // the trust phase done by hand on every node with one new CA, and nothing restarted
  const { outputs } = await trustByHand('etcd-ca');
  for (const out of outputs) assert.match(out, /Restart etcd, kube-apiserver \(they read the changed CA file only at start\)/);
  const before = controlPlaneHashes();
  const refused = await rotate(['-i', inventory, '--ca', 'etcd-ca', '--phase', 'issue']);
  assert.equal(refused.status, 1, refused.out);
  assert.match(refused.out, /Refusing the issue phase of etcd-ca: a running etcd member does not trust the new CA yet/);
  for (const node of cluster.controlPlanes)
    assert.match(refused.out, new RegExp(`${node.name}: etcd's etcd client port refuses a certificate of the new CA`));
  assert.deepEqual(controlPlaneHashes(), before, 'nothing written on any node');

  // undone from its backups: the files are as they were, and as the running members use them (the gate passing on a
  // trust phase that restarted them is in the every-phase test above)
  await restoreLatestEverywhere(pristine);
  await cluster.waitHealthy(90_000);
});
