// The core logic in-process, without the CLI: what the plan decides, what the judge finds, what issue signs. The
// trees come from kpki's tree builder (src/lab) with ECDSA keys (fast); openssl judges what issue signs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { LocalHost } from '../../src/hosts/local.js';
import { buildControlPlaneNode, makeClusterCas } from '../../src/trees/index.js';
import { scanNode } from '../../src/node/scan/scan.js';
import { planRenewal, BACKDATE_MS, OWN_CA_BACKDATE_MS } from '../../src/node/renew/plan.js';
import { OWN_CA } from '../../src/node/scan/result.js';
import { UsageError, KpkiError } from '../../src/errors.js';
import { isSignedBy, certificateToPem } from '../../src/pki/certificate.js';
import { distinguishedName, issueWithThrowawayCa, leafExtensions, selfSignCa } from '../../src/pki/issue.js';

const DAY = 86_400_000;

async function tree(o: { leafDays?: number; caDays?: number } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'kpki-unit-'));
  const now = Date.now();
  const cas = await makeClusterCas({
    keyAlgorithm: 'ECDSA-P256',
    notBefore: new Date(now - 30 * DAY),
    notAfter: new Date(now + (o.caDays ?? 3650) * DAY),
  });
  await buildControlPlaneNode(root, cas, {
    nodeName: 'cp1',
    address: '127.0.0.11',
    leafNotBefore: new Date(now - 30 * DAY),
    leafNotAfter: new Date(now + (o.leafDays ?? 20) * DAY),
  });
  return { root, host: new LocalHost(root, 'cp1'), cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

test("plan: the window picks what is due; validity is capped at the CA and said; the kubelet's own shape keeps its hour of backdating", async () => {
  const t = await tree({ leafDays: 20, caDays: 200 });
  try {
    const inventory = await scanNode(t.host);
    const now = new Date();
    assert.equal(
      planRenewal(inventory, { names: ['all'], ifExpiresWithinMs: 10 * DAY, now }).items.length,
      0,
      'nothing expires within 10 days',
    );
    const plan = planRenewal(inventory, { names: ['all'], ifExpiresWithinMs: 30 * DAY, now });
    const byName = new Map(plan.items.map((i) => [i.name, i]));
    assert.ok(byName.has('apiserver') && byName.has('admin.conf') && byName.has('kubelet-client'));
    const api = byName.get('apiserver')!;
    assert.equal(api.capped, true, 'a year is past the CA, which ends in 200 days');
    assert.equal(api.newNotAfter.getTime(), inventory.cas.find((c) => c.name === 'ca')!.cert!.notAfter.getTime());
    assert.ok(plan.warnings.some((w) => /apiserver: validity capped at the ca CA's own expiry/.test(w)));
    assert.equal(now.getTime() - api.newNotBefore.getTime(), BACKDATE_MS);
    const serving = byName.get('kubelet-serving')!;
    assert.equal(serving.signer, OWN_CA, "the kubelet's serving certificate is signed by a new throwaway CA, not the cluster's");
    assert.equal(serving.capped, false, 'its own CA is not capped by the cluster CA');
    assert.equal(now.getTime() - serving.newNotBefore.getTime(), OWN_CA_BACKDATE_MS);
    // naming one of the kubelet's client identities renews it, however it is named
    assert.deepEqual(
      planRenewal(inventory, { names: ['kubelet.conf'], now }).items.map((i) => i.name),
      ['kubelet-client'],
    );
  } finally {
    t.cleanup();
  }
});

test('plan: refusals are typed: unknown algorithm and too short a validity are usage errors, a CA is never renewed', async () => {
  const t = await tree();
  try {
    const inventory = await scanNode(t.host);
    const now = new Date();
    assert.throws(
      () => planRenewal(inventory, { names: ['all'], keyAlgorithm: 'DSA-1024', now }),
      (e) => e instanceof UsageError && e.exitCode === 2,
    );
    assert.throws(
      () => planRenewal(inventory, { names: ['all'], validityMs: 60_000, now }),
      (e) => e instanceof UsageError && /shorter than an hour/.test(e.message),
    );
    assert.equal(planRenewal(inventory, { names: ['all'], validityMs: 60_000, now, allowShortValidity: true }).validityMs, 60_000);
    assert.throws(
      () => planRenewal(inventory, { names: ['ca'], now }),
      (e) => e instanceof KpkiError && /never changes those/.test(e.message),
    );
    const ecdsa = planRenewal(inventory, { names: ['apiserver'], keyAlgorithm: 'RSA-2048', now }).items[0];
    assert.equal(ecdsa.oldKeyAlgorithm, 'ECDSA-P256');
    assert.equal(ecdsa.keyAlgorithm, 'RSA-2048');
  } finally {
    t.cleanup();
  }
});

test('judge: a healthy tree has no problems; a leaf from another CA, a swapped key and stale CA data are each named', async () => {
  const t = await tree();
  try {
    const healthy = await scanNode(t.host);
    assert.deepEqual(
      healthy.entries.flatMap((e) => e.problems.map((p) => `${e.name}: ${p.code}`)),
      [],
    );
    const other = await tree();
    try {
      // apiserver.crt from another cluster; front-proxy-client's key from another cluster; admin.conf trusting another CA
      writeFileSync(join(t.root, 'etc/kubernetes/pki/apiserver.crt'), readFileSync(join(other.root, 'etc/kubernetes/pki/apiserver.crt')));
      writeFileSync(
        join(t.root, 'etc/kubernetes/pki/front-proxy-client.key'),
        readFileSync(join(other.root, 'etc/kubernetes/pki/front-proxy-client.key')),
      );
      const conf = readFileSync(join(t.root, 'etc/kubernetes/admin.conf'), 'utf8');
      const otherCa = readFileSync(join(other.root, 'etc/kubernetes/pki/ca.crt')).toString('base64');
      writeFileSync(
        join(t.root, 'etc/kubernetes/admin.conf'),
        conf.replace(/certificate-authority-data: \S+/, `certificate-authority-data: ${otherCa}`),
      );
    } finally {
      other.cleanup();
    }
    const broken = await scanNode(t.host);
    const codes = (name: string) => broken.entries.find((e) => e.name === name)!.problems.map((p) => p.code);
    assert.ok(codes('apiserver').includes('not-signed-by-ca'), String(codes('apiserver')));
    assert.ok(codes('front-proxy-client').includes('key-mismatch'), String(codes('front-proxy-client')));
    assert.ok(codes('admin.conf').includes('ca-data-stale'), String(codes('admin.conf')));
    assert.deepEqual(codes('scheduler.conf'), [], 'the others stay clean');
  } finally {
    t.cleanup();
  }
});

test("issue: client-go's shape for the kubelet's serving certificate, leaf first, verified by openssl against the second", async () => {
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const caKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const notBefore = new Date(Date.now() - OWN_CA_BACKDATE_MS);
  const { leaf, ca } = await issueWithThrowawayCa({
    host: 'cp1',
    unixTime: 1700000000,
    key,
    caKey,
    extensions: leafExtensions({ commonName: 'cp1', dnsNames: ['cp1'], extKeyUsages: ['serverAuth'] }),
    notBefore,
    notAfter: new Date(notBefore.getTime() + 365 * DAY),
  });
  assert.equal(leaf.commonName, 'cp1@1700000000');
  assert.equal(ca.commonName, 'cp1-ca@1700000000');
  assert.equal(ca.serial, '01');
  assert.equal(leaf.serial, '02');
  assert.ok(leaf.issuerDer.equals(ca.subjectDer), "the issuer is the CA's subject byte for byte (Go's chain building)");
  assert.ok(isSignedBy(leaf, ca));
  const dir = mkdtempSync(join(tmpdir(), 'kpki-unit-'));
  try {
    writeFileSync(join(dir, 'kubelet.crt'), certificateToPem(leaf) + certificateToPem(ca));
    writeFileSync(join(dir, 'ca.crt'), certificateToPem(ca));
    assert.match(
      execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca.crt'), join(dir, 'kubelet.crt')], { encoding: 'utf8' }),
      /: OK/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // a self-signed CA: a CA by basicConstraints, its own issuer
  const caKey2 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const root = await selfSignCa({ commonName: 'kubernetes', key: caKey2, notBefore, notAfter: new Date(notBefore.getTime() + DAY) });
  assert.equal(root.isCA, true);
  assert.ok(root.issuerDer.equals(root.subjectDer) && isSignedBy(root, root));
  assert.equal(root.subject, 'CN=kubernetes');
  assert.ok(root.subjectDer.equals(distinguishedName('kubernetes')), 'the subject is written as distinguishedName writes it');
});
