// kpki ca rotate on one node's files (--root): every phase of ca, etcd-ca and front-proxy-ca on every real-world tree
// that holds those CAs' keys, on mklab.py's trees and on kpki's own; openssl judges the result (every leaf the old CA
// signed, kubeconfig client certificates included, is verified by the new CA alone and no longer by the old one; the
// new CA keeps the old subject; every kubeconfig trusts the new CA alone; the controller-manager's manifest is back
// as it was, its signing flag having named a one-certificate file while the CA file was a bundle). Bad input
// (a waiting key that is not the waiting certificate's, a phase out of order) fails naming the file, every byte as it
// was.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caseNames, copyCase, fixturesPresent, SKIP_REASON } from '../helpers/fixtures.js';
import { checkJson, credentialFiles, inRoot, JsonItem } from '../helpers/judge.js';
import { hashTree, kpki, removeTree, tempRoot } from '../helpers/kpki.js';
import { mklab, mklabSkipReason } from '../helpers/mklab.js';
import { buildControlPlaneNode, buildWorkerNode, makeClusterCas } from '../../src/trees/index.js';
import { certFacts, certTexts, openssl, opensslSelfSignedCa, pemCount, tempFile, verifiesEach } from '../helpers/openssl.js';

const roots: string[] = [];
/** Rotations the real-world trees went through (a tree without a CA's key is refused instead). */
const rotatedRealWorld: string[] = [];
after(() => roots.forEach(removeTree));

/** openssl's word on who signed each certificate, whatever its dates (most real-world leaves expired long ago). */
const signedBy = (caFile: string, certFiles: string[]) =>
  verifiesEach(
    certFiles.map((file): [string, string] => [caFile, file]),
    ['-no_check_time'],
  ).map((v) => v.ok);

const pemBlocksOf = (text: Buffer | string) =>
  text.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g) ?? [];

type RotatedCa = 'ca' | 'etcd-ca' | 'front-proxy-ca';

interface Rotated {
  root: string;
  /** The leaves the old CA signed: a certificate file, or a kubeconfig's client certificate. */
  leaves: JsonItem[];
  /** The old CA or a leaf lacks key identifiers: the new CA must have a name of its own. */
  distinct: boolean;
  oldCa: Buffer;
  newCa: Buffer;
  /** ca: the kubeconfigs that trusted the old CA, and the controller-manager's manifest before the rotation. */
  kubeconfigs: string[];
  manifest?: { file: string; before: Buffer };
}

const leafFile = (root: string, leaf: JsonItem) => credentialFiles(root, leaf).cert;

/** The CA data a kubeconfig embeds (empty when it names a file or has none). */
function embeddedCa(file: string): string {
  const line = /certificate-authority-data:\s*(\S+)/.exec(readFileSync(file, 'utf8'));
  return line ? Buffer.from(line[1], 'base64').toString() : '';
}

/** Every phase of one CA on one tree; what openssl must judge afterwards. Undefined when the tree lacks the CA key. */
function rotateAll(root: string, flags: string[], ca: RotatedCa, label: string): Rotated | undefined {
  const { info } = checkJson(root, flags);
  const entry = info.certificateAuthorities.find((c: JsonItem) => c.name === ca && !c.missing);
  if (!entry) return undefined;
  const caFile = inRoot(root, entry.path);
  const oldCa = readFileSync(caFile);
  const oldCaFile = tempFile(oldCa);
  const candidates = info.certificates.filter((c) => !c.missing && /\.(crt|pem|conf)$/.test(c.path) && existsSync(inRoot(root, c.path)));
  const files = candidates.map((c) => {
    try {
      return leafFile(root, c);
    } catch {
      return undefined; // a kubeconfig without embedded client data: its certificate file is an item of its own
    }
  });
  const judged = candidates.filter((_, i) => files[i]);
  const signedByOld = signedBy(
    oldCaFile,
    files.filter((f): f is string => Boolean(f)),
  );
  const leaves = judged.filter((_, i) => signedByOld[i]);
  const kubeconfigs =
    ca === 'ca'
      ? candidates
          .filter((c) => c.path.endsWith('.conf') && embeddedCa(inRoot(root, c.path)).includes(oldCa.toString().trim()))
          .map((c) => inRoot(root, c.path))
      : [];
  const manifestFile = join(root, 'etc/kubernetes/manifests/kube-controller-manager.yaml');
  const manifest = ca === 'ca' && existsSync(manifestFile) ? { file: manifestFile, before: readFileSync(manifestFile) } : undefined;
  const before = hashTree(root);
  const r = kpki(['--root', root, ...flags, 'ca', 'rotate', '--ca', ca, '--yes']);
  if ((entry as JsonItem & { externallyManaged?: boolean }).externallyManaged) {
    assert.notEqual(r.status, 0, `${label}: no ${ca} key, no rotation: ${r.stdout}`);
    // (a tree without manifests is a worker's to kpki: the cluster CA is then refused as on a worker, asking for it)
    assert.match(r.stderr, /is not on this node \(an external CA\)|is a worker: it holds no CA key/, label);
    assert.equal(hashTree(root), before, `${label}: nothing written`);
    return undefined;
  }
  assert.equal(r.status, 0, `${label} ${ca}: ${r.stdout}${r.stderr}`);
  for (const phase of ['trust', 'issue', 'finish']) assert.match(r.stdout, new RegExp(`${ca} ${phase} written on`), label);
  const newCa = readFileSync(caFile);
  const [caText, ...leafTexts] = certTexts([oldCaFile, ...(files.filter(Boolean) as string[])]).map((t) => t.text);
  const distinct =
    !caText.includes('X509v3 Subject Key Identifier:') || leafTexts.some((t) => !t.includes('X509v3 Authority Key Identifier:'));
  return { root, leaves, oldCa, newCa, distinct, kubeconfigs, manifest };
}

function judge(rotated: Rotated, label: string): void {
  const { root, leaves, oldCa, newCa, distinct } = rotated;
  assert.equal(pemCount(newCa), 1, `${label}: the CA file holds the new CA alone`);
  assert.notDeepEqual(newCa, oldCa, label);
  const oldFile = tempFile(oldCa);
  const newFile = tempFile(newCa);
  const [now, before] = [certFacts(newFile).subject, certFacts(oldFile).subject];
  if (distinct) assert.match(now, /CN ?= ?\S+-20\d{6}$/, `${label}: a name of its own (${before} → ${now})`);
  else assert.equal(now, before, `${label}: the subject is kept`);
  const files = leaves.map((leaf) => leafFile(root, leaf));
  const byNew = verifiesEach(files.map((file): [string, string] => [newFile, file]));
  const byOld = signedBy(oldFile, files);
  leaves.forEach((leaf, i) => {
    assert.ok(byNew[i].ok, `${label} ${leaf.name}: ${byNew[i].output}`);
    assert.equal(byOld[i], false, `${label} ${leaf.name}: the old CA did not sign it`);
  });
  for (const kubeconfig of rotated.kubeconfigs)
    assert.equal(embeddedCa(kubeconfig).trim(), newCa.toString().trim(), `${label} ${kubeconfig}: trusts the new CA alone`);
  if (rotated.manifest)
    assert.deepEqual(
      readFileSync(rotated.manifest.file),
      rotated.manifest.before,
      `${label}: the controller-manager manifest is as it was`,
    );
}

describe('ca rotate on the real-world trees (files only, --root)', { skip: fixturesPresent ? false : SKIP_REASON }, () => {
  for (const name of caseNames()) {
    test(name, () => {
      for (const ca of ['ca', 'etcd-ca', 'front-proxy-ca'] as const) {
        const fx = copyCase(name);
        roots.push(fx.root);
        const rotated = rotateAll(fx.root, fx.flags, ca, name);
        if (rotated) judge(rotated, `${name} ${ca}`);
        if (rotated) rotatedRealWorld.push(`${name} ${ca} (${rotated.leaves.length} leaves)`);
      }
    });
  }
  test('the trees with CA keys were rotated, not skipped', () => {
    console.log(`rotated: ${rotatedRealWorld.join(', ')}`);
    assert.ok(rotatedRealWorld.length >= 30, `${rotatedRealWorld.length} rotations`);
    const withLeaves = rotatedRealWorld.filter((r) => !r.endsWith('(0 leaves)'));
    assert.ok(withLeaves.length >= 25, `${withLeaves.length} rotations re-issued leaves`);
  });
});

describe('ca rotate on mklab.py trees', { skip: mklabSkipReason() }, () => {
  for (const variant of [
    ['--alg', 'ecdsa-p256', '--nodes', '2'],
    ['--alg', 'rsa-2048', '--nodes', '1', '--expired-days', '5'],
  ]) {
    test(variant.join(' '), () => {
      const tree = mklab(variant);
      roots.push(tree.dir);
      for (const node of tree.nodes.filter((n) => n.role === 'control-plane')) {
        for (const ca of ['ca', 'etcd-ca', 'front-proxy-ca'] as const) {
          const rotated = rotateAll(node.root, [], ca, `${node.name} ${variant.join(' ')}`);
          assert.ok(rotated, `${node.name}: mklab.py's control-plane trees hold ${ca} with its key`);
          judge(rotated, `${node.name} ${ca}`);
        }
      }
    });
  }
});

/** kpki's own control-plane tree, its leaves a month old (and a worker of the same cluster when asked). */
async function kpkiTree(root: string, workerRoot?: string): Promise<void> {
  const now = Date.now();
  const cas = await makeClusterCas();
  const dates = { leafNotBefore: new Date(now - 30 * 86_400_000), leafNotAfter: new Date(now + 335 * 86_400_000) };
  await buildControlPlaneNode(root, cas, { nodeName: 'cp', address: '127.0.0.11', ...dates });
  if (workerRoot) await buildWorkerNode(workerRoot, cas, { nodeName: 'w1', address: '127.0.0.14', ...dates });
}

describe("ca rotate on kpki's own tree: phase by phase, bad input refused with every byte kept", () => {
  const root = tempRoot('kpki-rotate-');
  roots.push(root);
  const seeded = kpkiTree(root);

  test('trust, issue, verify, finish one at a time; verify fails before issue; the saved CA is the one written', async () => {
    await seeded;
    const etcdCa = join(root, 'etc/kubernetes/pki/etcd/ca.crt');
    const oldCa = readFileSync(etcdCa);
    const saved = join(root, '..', `saved-${Date.now()}`);
    roots.push(saved);
    const trust = kpki(['--root', root, 'ca', 'rotate', '--ca', 'etcd-ca', '--phase', 'trust', '--yes', '--save-ca', saved]);
    assert.equal(trust.status, 0, trust.stdout + trust.stderr);
    assert.match(trust.stdout, /Restart etcd, kube-apiserver \(they read the changed CA file only at start\)/);
    assert.equal(pemCount(readFileSync(etcdCa)), 2, 'old + new');
    assert.deepEqual(readFileSync(join(root, 'etc/kubernetes/pki/etcd/ca-next.crt')), readFileSync(join(saved, 'etcd-ca.crt')));
    assert.equal(statSync(join(root, 'etc/kubernetes/pki/etcd/ca-next.key')).mode & 0o777, 0o600);
    assert.equal(statSync(saved).mode & 0o777, 0o700);

    const plan = kpki(['--root', root, 'ca', 'plan', '--ca', 'etcd-ca']);
    assert.match(plan.stdout, /a rotation is in progress: the CA file trusts more than one CA on /);
    const during = kpki(['--root', root, 'check']);
    assert.equal(during.status, 0, during.stdout);
    assert.match(during.stdout, /trusts 2 CAs \(rotation\)/);
    const again = kpki(['--root', root, 'ca', 'rotate', '--ca', 'etcd-ca', '--phase', 'trust', '--yes']);
    assert.equal(again.status, 0);
    assert.match(again.stdout, /etcd-ca trust on .*: nothing to do \(trusts old \+ new, the old signs\)/);
    const early = kpki(['--root', root, 'ca', 'rotate', '--ca', 'etcd-ca', '--phase', 'verify']);
    assert.equal(early.status, 1);
    assert.match(early.stdout, /still old: \/etc\/kubernetes\/pki\/etcd\/ca\.crt: the old etcd-ca still signs \(issue phase not done\)/);
    const tooSoon = kpki(['--root', root, 'ca', 'rotate', '--ca', 'etcd-ca', '--phase', 'finish', '--yes']);
    assert.notEqual(tooSoon.status, 0);
    assert.match(tooSoon.stderr, /run the issue phase first/);

    // a waiting key that is not the waiting certificate's: refused, naming it, nothing changed
    const nextKey = join(root, 'etc/kubernetes/pki/etcd/ca-next.key');
    const goodKey = readFileSync(nextKey);
    const strangerKey = join(root, '..', `stranger-${Date.now()}.key`);
    opensslSelfSignedCa('stranger', strangerKey, tempFile(''));
    writeFileSync(nextKey, readFileSync(strangerKey), { mode: 0o600 });
    roots.push(strangerKey);
    const before = hashTree(root);
    const bad = kpki(['--root', root, 'ca', 'rotate', '--ca', 'etcd-ca', '--phase', 'issue', '--yes']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /ca-next\.key is not the key of .*ca-next\.crt/);
    assert.equal(hashTree(root), before, 'every byte as it was');
    writeFileSync(nextKey, goodKey, { mode: 0o600 });

    const issue = kpki(['--root', root, 'ca', 'rotate', '--ca', 'etcd-ca', '--phase', 'issue', '--yes']);
    assert.equal(issue.status, 0, issue.stdout + issue.stderr);
    assert.equal(existsSync(nextKey), false, 'the waiting key became the CA key');
    const verify = kpki(['--root', root, 'ca', 'rotate', '--ca', 'etcd-ca', '--phase', 'verify']);
    assert.equal(verify.status, 0, verify.stdout);
    const finish = kpki(['--root', root, 'ca', 'rotate', '--ca', 'etcd-ca', '--phase', 'finish', '--yes']);
    assert.equal(finish.status, 0, finish.stdout + finish.stderr);
    const newCa = readFileSync(etcdCa);
    assert.deepEqual(newCa, readFileSync(join(saved, 'etcd-ca.crt')));
    judge(
      {
        root,
        oldCa,
        newCa,
        distinct: false,
        leaves: ['etcd/server', 'etcd/peer', 'etcd/healthcheck-client', 'apiserver-etcd-client'].map(
          (n) => ({ name: n, path: `/etc/kubernetes/pki/${n}.crt`, keyPath: `/etc/kubernetes/pki/${n}.key` }) as JsonItem,
        ),
        kubeconfigs: [],
      },
      'kpki tree etcd-ca',
    );
    const check = kpki(['--root', root, 'check']);
    assert.equal(check.status, 0, check.stdout);
  });

  test('an unknown CA and a new CA that cannot take over are refused before anything is written', async () => {
    await seeded;
    const before = hashTree(root);
    const unknown = kpki(['--root', root, 'ca', 'rotate', '--ca', 'root-ca', '--yes']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /--ca must be one of ca, front-proxy-ca, etcd-ca, sa/);
    const pki = join(root, 'etc/kubernetes/pki');
    const same = kpki([
      '--root',
      root,
      'ca',
      'rotate',
      '--ca',
      'front-proxy-ca',
      '--new-ca-cert',
      join(pki, 'front-proxy-ca.crt'),
      '--new-ca-key',
      join(pki, 'front-proxy-ca.key'),
      '--yes',
    ]);
    assert.notEqual(same.status, 0);
    assert.match(same.stderr, /the new CA given cannot replace front-proxy-ca: it is the CA in use now/);
    assert.equal(hashTree(root), before);
  });
});

describe("ca rotate --ca ca on kpki's own tree: the signer never reads a bundle, kubeconfigs trust both in between", () => {
  test('trust: the signing flag names a one-certificate file; issue: it holds the new CA, matching ca.key; finish: the manifest as it was', async () => {
    const root = tempRoot('kpki-rotate-ca-');
    const worker = tempRoot('kpki-rotate-ca-worker-');
    roots.push(root, worker);
    await kpkiTree(root, worker);
    const pki = join(root, 'etc/kubernetes/pki');
    const manifest = join(root, 'etc/kubernetes/manifests/kube-controller-manager.yaml');
    const kubeconfigs = ['admin', 'super-admin', 'controller-manager', 'scheduler', 'kubelet'].map((n) =>
      join(root, `etc/kubernetes/${n}.conf`),
    );
    const manifestBefore = readFileSync(manifest);
    const oldCa = readFileSync(join(pki, 'ca.crt'));
    const signingFlag = () => /--cluster-signing-cert-file=(\S+)/.exec(readFileSync(manifest, 'utf8'))?.[1];
    const phase = (name: string) => kpki(['--root', root, 'ca', 'rotate', '--ca', 'ca', '--phase', name, '--yes']);

    const dry = kpki(['--root', root, 'ca', 'rotate', '--ca', 'ca', '--dry-run']);
    const before = hashTree(root);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /write \/etc\/kubernetes\/pki\/ca-signing\.crt/);
    assert.equal(hashTree(root), before, 'a dry run writes nothing');

    const saved = join(root, '..', `saved-ca-${Date.now()}`);
    roots.push(saved);
    const trust = kpki(['--root', root, 'ca', 'rotate', '--ca', 'ca', '--phase', 'trust', '--yes', '--save-ca', saved]);
    assert.equal(trust.status, 0, trust.stdout + trust.stderr);
    assert.match(trust.stdout, /restart kube-controller-manager, kube-scheduler, kubelet/);
    assert.equal(signingFlag(), '/etc/kubernetes/pki/ca-signing.crt');
    const signing = join(pki, 'ca-signing.crt');
    assert.equal(pemCount(readFileSync(signing)), 1, 'the signer reads one certificate');
    assert.deepEqual(readFileSync(signing), oldCa, 'the old CA signs until issue');
    assert.equal(pemCount(readFileSync(join(pki, 'ca.crt'))), 2);
    for (const k of kubeconfigs) assert.equal(pemCount(embeddedCa(k)), 2, `${k} trusts old and new`);
    // every kubeconfig's client certificate (old CA) still verifies against the bundle it now holds
    const admin = credentialFiles(root, { name: 'admin.conf', path: '/etc/kubernetes/admin.conf' } as JsonItem).cert;
    assert.ok(verifiesEach([[tempFile(embeddedCa(kubeconfigs[0])), admin]])[0].ok);
    const check = kpki(['--root', root, 'check']);
    assert.equal(check.status, 0, `a node in the middle of a rotation is healthy: ${check.stdout}`);

    const issue = phase('issue');
    assert.equal(issue.status, 0, issue.stdout + issue.stderr);
    const newCa = tempFile(pemBlocksOf(readFileSync(join(pki, 'ca.crt')))[0] ?? '');
    assert.equal(pemCount(readFileSync(signing)), 1);
    assert.equal(readFileSync(signing, 'utf8'), readFileSync(newCa, 'utf8'), 'the signer holds the new CA');
    assert.equal(
      openssl(['x509', '-in', signing, '-noout', '-pubkey']).stdout,
      openssl(['pkey', '-in', join(pki, 'ca.key'), '-pubout']).stdout,
      'ca.key is the key of the signing certificate',
    );
    const verify = kpki(['--root', root, 'ca', 'rotate', '--ca', 'ca', '--phase', 'verify']);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);

    const finish = phase('finish');
    assert.equal(finish.status, 0, finish.stdout + finish.stderr);
    assert.deepEqual(readFileSync(manifest), manifestBefore, 'the manifest is as kubeadm wrote it');
    assert.equal(existsSync(signing), false);
    for (const k of kubeconfigs) assert.equal(embeddedCa(k).trim(), readFileSync(newCa, 'utf8').trim(), `${k} trusts the new CA alone`);
    const leaves = [
      join(pki, 'apiserver.crt'),
      join(pki, 'apiserver-kubelet-client.crt'),
      join(root, 'var/lib/kubelet/pki/kubelet-client-current.pem'),
    ];
    // (kubelet.conf names kubelet-client-current.pem, one of the leaves)
    const embedded = kubeconfigs.slice(0, 4).map((k) => credentialFiles(root, { name: k, path: k.slice(root.length) } as JsonItem).cert);
    for (const v of verifiesEach([...leaves, ...embedded].map((f): [string, string] => [newCa, f]))) assert.ok(v.ok, v.output);
    assert.deepEqual(
      signedBy(tempFile(oldCa), [...leaves, ...embedded]),
      [...leaves, ...embedded].map(() => false),
      'the old CA signed none of them',
    );

    // the worker of the same cluster: no CA key there, so the saved CA is given; its key is never written there
    const given = ['--new-ca-cert', join(saved, 'ca.crt'), '--new-ca-key', join(saved, 'ca.key')];
    const onWorker = (name: string, flags = given) =>
      kpki(['--root', worker, 'ca', 'rotate', '--ca', 'ca', '--phase', name, '--yes', ...flags]);
    const untouched = hashTree(worker);
    const blind = onWorker('trust', []);
    assert.equal(blind.status, 2, blind.stdout + blind.stderr);
    assert.match(blind.stderr, /is a worker: it holds no CA key.*--new-ca-cert and --new-ca-key/);
    assert.equal(hashTree(worker), untouched, 'refused: every byte as it was');
    const workerCa = join(worker, 'etc/kubernetes/pki/ca.crt');
    const workerConf = join(worker, 'etc/kubernetes/kubelet.conf');
    const workerClient = () => tempFile(readFileSync(inRoot(worker, '/var/lib/kubelet/pki/kubelet-client-current.pem')));
    for (const name of ['trust', 'issue', 'verify', 'finish']) {
      const r = onWorker(name);
      assert.equal(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
      if (name === 'trust') {
        assert.match(r.stdout, /then restart kubelet/);
        assert.equal(pemCount(readFileSync(workerCa)), 2, 'the worker trusts old + new');
        assert.equal(pemCount(embeddedCa(workerConf)), 2);
        assert.ok(signedBy(tempFile(oldCa), [workerClient()])[0], 'its client certificate is still the old one');
      }
    }
    assert.equal(readFileSync(workerCa, 'utf8').trim(), readFileSync(newCa, 'utf8').trim(), "the worker's ca.crt: the new CA alone");
    assert.equal(embeddedCa(workerConf).trim(), readFileSync(newCa, 'utf8').trim(), "the worker's kubelet.conf: the new CA alone");
    assert.ok(verifiesEach([[newCa, workerClient()]])[0].ok, "the worker's kubelet client certificate is from the new CA");
    assert.deepEqual(signedBy(tempFile(oldCa), [workerClient()]), [false]);
    for (const file of ['etc/kubernetes/pki/ca.key', 'etc/kubernetes/pki/ca-next.key', 'etc/kubernetes/pki/ca-next.crt'])
      assert.equal(existsSync(join(worker, file)), false, `no ${file} on the worker`);
  });
});

describe('ca rotate on a CA without a subject key identifier (kubeadm before 1.19, Go before 1.15)', {
  skip: fixturesPresent ? false : SKIP_REASON,
}, () => {
  test('while the bundle trusts old and new, openssl verifies old and new leaves against it (the new CA cannot be mistaken for the old)', () => {
    const fx = copyCase('kubeadm-v1.16.2-maxxmoney');
    roots.push(fx.root);
    const pki = join(fx.root, 'etc/kubernetes/pki/etcd');
    assert.equal(
      openssl(['x509', '-in', join(pki, 'ca.crt'), '-noout', '-ext', 'subjectKeyIdentifier']).stdout.trim(),
      '',
      'the old CA has no SKID',
    );
    const trust = kpki(['--root', fx.root, 'ca', 'rotate', '--ca', 'etcd-ca', '--phase', 'trust', '--yes']);
    assert.equal(trust.status, 0, trust.stdout + trust.stderr);
    // the kubelet, etcd and the API server are Go (they try every CA of a name); OpenSSL takes the first of a name
    const bundle = join(pki, 'ca.crt');
    const old = openssl(['verify', '-no_check_time', '-CAfile', bundle, join(pki, 'server.crt')]);
    assert.match(old.stdout, /: OK/, `an old leaf against the bundle: ${old.stdout}${old.stderr}`);
    // another node, not issued yet, still serves its old leaf: this node's bundle (new first) must still verify it
    const oldLeaf = tempFile(readFileSync(join(pki, 'server.crt')));
    const issue = kpki(['--root', fx.root, 'ca', 'rotate', '--ca', 'etcd-ca', '--phase', 'issue', '--yes']);
    assert.equal(issue.status, 0, issue.stdout + issue.stderr);
    const fresh = openssl(['verify', '-CAfile', bundle, join(pki, 'server.crt')]);
    assert.match(fresh.stdout, /: OK/, `a new leaf against the bundle: ${fresh.stdout}${fresh.stderr}`);
    const stillServed = openssl(['verify', '-no_check_time', '-CAfile', bundle, oldLeaf]);
    assert.match(stillServed.stdout, /: OK/, `another node's old leaf against the bundle: ${stillServed.stdout}${stillServed.stderr}`);
  });
});
