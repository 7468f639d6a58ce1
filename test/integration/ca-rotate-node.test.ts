// kpki ca rotate on one node's files (--root): every phase of etcd-ca and front-proxy-ca on every real-world tree that
// holds those CAs' keys, on mklab.py's trees and on kpki's own; openssl judges the result (every leaf the old CA
// signed is verified by the new CA alone and no longer by the old one; the new CA keeps the old subject). Bad input
// (a waiting key that is not the waiting certificate's, a phase out of order) fails naming the file, every byte as it
// was.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caseNames, copyCase, fixturesPresent, SKIP_REASON } from '../helpers/fixtures.js';
import { checkJson, inRoot, JsonItem } from '../helpers/judge.js';
import { hashTree, kpki, removeTree, tempRoot } from '../helpers/kpki.js';
import { mklab, mklabSkipReason } from '../helpers/mklab.js';
import { buildControlPlaneNode, makeClusterCas } from '../../src/trees/index.js';
import { certFacts, certTexts, openssl, opensslSelfSignedCa, tempFile, verifiesEach } from '../helpers/openssl.js';

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

const pemCount = (text: Buffer | string) => (text.toString().match(/-----BEGIN CERTIFICATE-----/g) ?? []).length;

interface Rotated {
  /** The leaves the old CA signed, by name and file. */
  leaves: { name: string; file: string }[];
  /** The old CA or a leaf lacks key identifiers: the new CA must have a name of its own. */
  distinct: boolean;
  oldCa: Buffer;
  newCa: Buffer;
}

/** Every phase of one CA on one tree; what openssl must judge afterwards. Undefined when the tree lacks the CA key. */
function rotateAll(root: string, flags: string[], ca: 'etcd-ca' | 'front-proxy-ca', label: string): Rotated | undefined {
  const { info } = checkJson(root, flags);
  const entry = info.certificateAuthorities.find((c: JsonItem) => c.name === ca && !c.missing);
  if (!entry) return undefined;
  const caFile = inRoot(root, entry.path);
  const oldCa = readFileSync(caFile);
  const oldCaFile = tempFile(oldCa);
  const candidates = info.certificates
    .filter((c) => !c.missing && (c.path.endsWith('.crt') || c.path.endsWith('.pem')))
    .map((c) => ({ name: c.name, file: inRoot(root, c.path) }))
    .filter((c) => existsSync(c.file));
  const signedByOld = signedBy(
    oldCaFile,
    candidates.map((c) => c.file),
  );
  const leaves = candidates.filter((_, i) => signedByOld[i]);
  const before = hashTree(root);
  const r = kpki(['--root', root, ...flags, 'ca', 'rotate', '--ca', ca, '--yes']);
  if ((entry as JsonItem & { externallyManaged?: boolean }).externallyManaged) {
    assert.notEqual(r.status, 0, `${label}: no ${ca} key, no rotation: ${r.stdout}`);
    assert.match(r.stderr, /is not on this node \(an external CA\)/, label);
    assert.equal(hashTree(root), before, `${label}: nothing written`);
    return undefined;
  }
  assert.equal(r.status, 0, `${label} ${ca}: ${r.stdout}${r.stderr}`);
  for (const phase of ['trust', 'issue', 'finish']) assert.match(r.stdout, new RegExp(`${ca} ${phase} written on`), label);
  const newCa = readFileSync(caFile);
  const [caText, ...leafTexts] = certTexts([oldCaFile, ...leaves.map((l) => l.file)]).map((t) => t.text);
  const distinct =
    !caText.includes('X509v3 Subject Key Identifier:') || leafTexts.some((t) => !t.includes('X509v3 Authority Key Identifier:'));
  return { leaves, oldCa, newCa, distinct };
}

function judge(rotated: Rotated, label: string): void {
  const { leaves, oldCa, newCa, distinct } = rotated;
  assert.equal(pemCount(newCa), 1, `${label}: the CA file holds the new CA alone`);
  assert.notDeepEqual(newCa, oldCa, label);
  const oldFile = tempFile(oldCa);
  const newFile = tempFile(newCa);
  const [now, before] = [certFacts(newFile).subject, certFacts(oldFile).subject];
  if (distinct) assert.match(now, /CN ?= ?\S+-20\d{6}$/, `${label}: a name of its own (${before} → ${now})`);
  else assert.equal(now, before, `${label}: the subject is kept`);
  const byNew = verifiesEach(leaves.map((leaf): [string, string] => [newFile, leaf.file]));
  const byOld = signedBy(
    oldFile,
    leaves.map((leaf) => leaf.file),
  );
  leaves.forEach((leaf, i) => {
    assert.ok(byNew[i].ok, `${label} ${leaf.name}: ${byNew[i].output}`);
    assert.equal(byOld[i], false, `${label} ${leaf.name}: the old CA did not sign it`);
  });
}

describe('ca rotate on the real-world trees (files only, --root)', { skip: fixturesPresent ? false : SKIP_REASON }, () => {
  for (const name of caseNames()) {
    test(name, () => {
      for (const ca of ['etcd-ca', 'front-proxy-ca'] as const) {
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
        for (const ca of ['etcd-ca', 'front-proxy-ca'] as const) {
          const rotated = rotateAll(node.root, [], ca, `${node.name} ${variant.join(' ')}`);
          assert.ok(rotated, `${node.name}: mklab.py's control-plane trees hold ${ca} with its key`);
          judge(rotated, `${node.name} ${ca}`);
        }
      }
    });
  }
});

describe("ca rotate on kpki's own tree: phase by phase, bad input refused with every byte kept", () => {
  const root = tempRoot('kpki-rotate-');
  roots.push(root);
  const seeded = (async () => {
    const now = Date.now();
    await buildControlPlaneNode(root, await makeClusterCas(), {
      nodeName: 'cp',
      address: '127.0.0.11',
      leafNotBefore: new Date(now - 30 * 86_400_000),
      leafNotAfter: new Date(now + 335 * 86_400_000),
    });
  })();

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
        oldCa,
        newCa,
        distinct: false,
        leaves: ['etcd/server', 'etcd/peer', 'etcd/healthcheck-client', 'apiserver-etcd-client'].map((n) => ({
          name: n,
          file: join(root, `etc/kubernetes/pki/${n}.crt`),
        })),
      },
      'kpki tree etcd-ca',
    );
    const check = kpki(['--root', root, 'check']);
    assert.equal(check.status, 0, check.stdout);
  });

  test('unsupported CAs and a new CA that cannot take over are refused before anything is written', async () => {
    await seeded;
    const before = hashTree(root);
    const ca = kpki(['--root', root, 'ca', 'rotate', '--ca', 'ca', '--yes']);
    assert.equal(ca.status, 2);
    assert.match(ca.stderr, /rotates etcd-ca, front-proxy-ca, sa in this version; ca is not supported yet/);
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
