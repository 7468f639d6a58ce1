// kpki ca rotate --ca sa on one node's files (--root): the service-account key pair of every real-world tree that
// holds it, and kpki's own tree phase by phase. openssl judges the result: sa.pub holds exactly the public half of
// the new sa.key (and both keys while the rotation is between trust and finish), the new key is of the old one's
// kind and size, keys stay 0600. finish waits for pods' tokens to be refreshed (--token-overlap); bad input (a
// corrupt waiting key, the key in use given as the new one, a certificate given for sa) fails naming the file or
// flag with every byte as it was.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caseNames, copyCase, fixturesPresent, SKIP_REASON } from '../helpers/fixtures.js';
import { hashTree, kpki, removeTree, tempRoot } from '../helpers/kpki.js';
import { buildControlPlaneNode, makeClusterCas } from '../../src/trees/index.js';
import { openssl, tempFile } from '../helpers/openssl.js';

const roots: string[] = [];
const rotated: string[] = [];
after(() => roots.forEach(removeTree));

const blocks = (text: Buffer | string) => text.toString().match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----\n?/g) ?? [];

/** openssl's reading of each public key in a file, in order (PEM as openssl writes it). */
function publicKeys(file: string): string[] {
  return blocks(readFileSync(file)).map((pem) => {
    const r = openssl(['pkey', '-pubin', '-in', tempFile(pem)]);
    assert.equal(r.status, 0, `openssl reads ${file}: ${r.stderr}`);
    return r.stdout;
  });
}

/** openssl's public half of a private key file, and its kind ("Private-Key: (2048 bit, 2 primes)"). */
function privateKey(file: string): { pub: string; kind: string } {
  const pub = openssl(['pkey', '-in', file, '-pubout']);
  assert.equal(pub.status, 0, `openssl reads ${file}: ${pub.stderr}`);
  const text = openssl(['pkey', '-in', file, '-noout', '-text']).stdout.split('\n')[0].trim();
  return { pub: pub.stdout, kind: text };
}

/** Where the node keeps the pair, as ca plan finds it. */
function saFiles(root: string, flags: string[]): { pub: string; key: string; next: string; keyPresent: boolean } | undefined {
  const plan = kpki(['--root', root, ...flags, 'ca', 'plan', '--ca', 'sa', '-o', 'json']);
  const ca = JSON.parse(plan.stdout).nodes[0].ca;
  if (!ca.present) return undefined;
  const dir = join(root, ca.path.replace(/\/sa\.pub$/, ''));
  return { pub: join(dir, 'sa.pub'), key: join(dir, 'sa.key'), next: join(dir, 'sa-next.key'), keyPresent: ca.keyPresent };
}

describe('ca rotate --ca sa on the real-world trees (files only, --root)', { skip: fixturesPresent ? false : SKIP_REASON }, () => {
  for (const name of caseNames()) {
    test(name, () => {
      const fx = copyCase(name);
      roots.push(fx.root);
      const files = saFiles(fx.root, fx.flags);
      const before = hashTree(fx.root);
      const old = files?.keyPresent ? privateKey(files.key) : undefined;
      const r = kpki(['--root', fx.root, ...fx.flags, 'ca', 'rotate', '--ca', 'sa', '--token-overlap', '0s', '--yes']);
      if (!files?.keyPresent) {
        assert.notEqual(r.status, 0, `${name}: no sa pair, no rotation: ${r.stdout}`);
        assert.match(r.stderr, /no service-account key pair here \(.*sa\.(pub|key) is missing\)/, name);
        assert.equal(hashTree(fx.root), before, `${name}: nothing written`);
        return;
      }
      assert.equal(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
      for (const phase of ['trust', 'issue', 'finish']) assert.match(r.stdout, new RegExp(`sa ${phase} written on`), name);
      const now = privateKey(files.key);
      assert.notEqual(now.pub, old!.pub, `${name}: a new key signs`);
      assert.equal(now.kind, old!.kind, `${name}: of the old kind and size`);
      assert.deepEqual(publicKeys(files.pub), [now.pub], `${name}: sa.pub verifies with the new key alone`);
      // (the fixture's mode tightened to at most 0600: 0444 becomes 0400)
      assert.equal(statSync(files.key).mode & 0o077, 0, `${name}: sa.key readable by its owner only`);
      assert.equal(existsSync(files.next), false, `${name}: no key left waiting`);
      rotated.push(name);
    });
  }
  test('the trees with a service-account key pair were rotated, not skipped', () => {
    console.log(`sa rotated: ${rotated.join(', ')}`);
    assert.ok(rotated.length >= 15, `${rotated.length} rotations`);
  });
});

describe("ca rotate --ca sa on kpki's own tree: phase by phase, finish waits for tokens, bad input refused", () => {
  const root = tempRoot('kpki-sa-rotate-');
  roots.push(root);
  const pki = join(root, 'etc/kubernetes/pki');
  const [pubFile, keyFile, nextFile] = ['sa.pub', 'sa.key', 'sa-next.key'].map((f) => join(pki, f));
  const ready = (async () => {
    await buildControlPlaneNode(root, await makeClusterCas(), { nodeName: 'cp', address: '127.0.0.11' });
  })();
  const rotate = (...args: string[]) => kpki(['--root', root, 'ca', 'rotate', '--ca', 'sa', ...args]);

  test('bad input is refused before anything is written', async () => {
    await ready;
    const before = hashTree(root);
    const withCert = rotate('--new-ca-cert', join(pki, 'ca.crt'), '--new-ca-key', keyFile, '--yes');
    assert.equal(withCert.status, 2);
    assert.match(withCert.stderr, /the service-account key pair has no certificate: give the new private key alone with --new-ca-key/);
    const inUse = rotate('--new-ca-key', keyFile, '--yes');
    assert.notEqual(inUse.status, 0);
    assert.match(inUse.stderr, /the new key given cannot replace sa: it is the key in use/);
    const badOverlap = rotate('--token-overlap', 'soon', '--yes');
    assert.equal(badOverlap.status, 2);
    assert.match(badOverlap.stderr, /--token-overlap: invalid duration "soon"/);
    const issueFirst = rotate('--phase', 'issue', '--yes');
    assert.notEqual(issueFirst.status, 0);
    assert.match(issueFirst.stderr, /sa\.pub verifies with no new key yet: run the trust phase first/);
    assert.equal(hashTree(root), before, 'every byte as it was');
  });

  test('trust, issue, verify, finish; finish waits for the token overlap; the saved key is the one written', async () => {
    await ready;
    const old = privateKey(keyFile);
    const saved = join(root, '..', `saved-sa-${Date.now()}`);
    roots.push(saved);
    const trust = rotate('--phase', 'trust', '--yes', '--save-ca', saved);
    assert.equal(trust.status, 0, trust.stdout + trust.stderr);
    assert.match(trust.stdout, /then restart kube-apiserver \(they read it only at start\)/);
    assert.match(trust.stdout, /Restart kube-apiserver \(they read the changed CA file only at start\)/);
    const waiting = privateKey(nextFile);
    assert.deepEqual(publicKeys(pubFile), [old.pub, waiting.pub], 'sa.pub verifies with old + new');
    assert.equal(privateKey(keyFile).pub, old.pub, 'the old key still signs');
    assert.equal(statSync(nextFile).mode & 0o777, 0o600);
    assert.equal(privateKey(join(saved, 'sa.key')).pub, waiting.pub, '--save-ca kept the key written');
    assert.deepEqual(publicKeys(join(saved, 'sa.pub')), [waiting.pub]);
    assert.equal(statSync(saved).mode & 0o777, 0o700);
    const check = kpki(['--root', root, 'check']);
    assert.equal(check.status, 0, check.stdout);
    assert.match(check.stdout, /Service-account key rotation in progress: sa\.pub verifies 2 keys/);
    const json = JSON.parse(kpki(['--root', root, 'check', '-o', 'json']).stdout);
    assert.deepEqual(json.serviceAccountKeyRotation, { keys: 2 });
    const plan = kpki(['--root', root, 'ca', 'plan', '--ca', 'sa']);
    assert.match(plan.stdout, /a rotation is in progress: sa\.pub holds more than one key on /);
    const again = rotate('--phase', 'trust', '--yes');
    assert.equal(again.status, 0);
    assert.match(again.stdout, /sa trust on .*: nothing to do \(verifies old \+ new, the old signs\)/);
    const early = rotate('--phase', 'verify');
    assert.equal(early.status, 1);
    assert.match(early.stdout, /still old: \/etc\/kubernetes\/pki\/sa\.key: the old service-account key still signs/);

    // a waiting key that is not a key: refused, naming it, nothing changed
    const good = readFileSync(nextFile);
    writeFileSync(nextFile, '-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n', { mode: 0o600 });
    const before = hashTree(root);
    const bad = rotate('--phase', 'issue', '--yes');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /sa-next\.key: corrupt RSA PRIVATE KEY/);
    assert.equal(hashTree(root), before, 'every byte as it was');
    writeFileSync(nextFile, good, { mode: 0o600 });

    const issue = rotate('--phase', 'issue', '--yes');
    assert.equal(issue.status, 0, issue.stdout + issue.stderr);
    assert.match(issue.stdout, /then restart kube-apiserver, kube-controller-manager/);
    assert.equal(existsSync(nextFile), false, 'the waiting key became sa.key');
    assert.equal(privateKey(keyFile).pub, waiting.pub, 'the new key signs');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.deepEqual(publicKeys(pubFile), [waiting.pub, old.pub], 'tokens of the old key still verify');
    const verify = rotate('--phase', 'verify');
    assert.equal(verify.status, 0, verify.stdout);

    const afterIssue = hashTree(root);
    const tooSoon = rotate('--phase', 'finish', '--yes');
    assert.notEqual(tooSoon.status, 0);
    assert.match(
      tooSoon.stderr,
      /the new service-account key signs since .*tokens the old key signed may be in use until .*\(--token-overlap 60 min\)/,
    );
    assert.equal(hashTree(root), afterIssue, 'finish refused: every byte as it was');
    const finish = rotate('--phase', 'finish', '--token-overlap', '0s', '--yes');
    assert.equal(finish.status, 0, finish.stdout + finish.stderr);
    assert.match(finish.stdout, /then restart kube-apiserver \(they read it only at start\)/);
    assert.deepEqual(publicKeys(pubFile), [waiting.pub], 'sa.pub verifies with the new key alone');
    const after = kpki(['--root', root, 'check']);
    assert.equal(after.status, 0);
    assert.doesNotMatch(after.stdout, /Service-account key rotation in progress/);
    const done = rotate('--phase', 'verify');
    assert.equal(done.status, 0, done.stdout);
  });
});
