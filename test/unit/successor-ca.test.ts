// The CA that replaces another: subject, names and key type kept (or a name of its own when key identifiers cannot
// tell the two apart), a new key, ten years; and why an operator's CA cannot take over. openssl reads what is made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { certificateToPem } from '../../src/pki/certificate.js';
import { distinguishedName, issueCertificate, leafExtensions, selfSignCa } from '../../src/pki/issue.js';
import { CA_VALIDITY_MS, successorCa, unfitSuccessor } from '../../src/pki/successor-ca.js';
import { certFacts, tempFile } from '../helpers/openssl.js';

test('a successor keeps the subject byte for byte, the names and the key type; a new key, ten years', async () => {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
  const now = new Date('2026-12-04T00:00:00Z');
  const old = await selfSignCa({
    commonName: 'kubernetes',
    dnsNames: ['kubernetes'],
    key,
    notBefore: now,
    notAfter: new Date(now.getTime() + 86_400_000),
  });
  const next = await successorCa(old, { now });
  assert.ok(next.cert.subjectDer.equals(old.subjectDer));
  assert.deepEqual(next.cert.dnsNames, ['kubernetes']);
  assert.equal(next.key.asymmetricKeyDetails?.namedCurve, 'secp384r1');
  assert.ok(!next.cert.spkiDer.equals(old.spkiDer));
  assert.notEqual(next.cert.subjectKeyId, old.subjectKeyId);
  assert.equal(next.cert.notAfter.getTime() - next.cert.notBefore.getTime(), CA_VALIDITY_MS);
  assert.equal(unfitSuccessor(next, old, now), undefined);
  const facts = certFacts(tempFile(certificateToPem(next.cert)));
  assert.equal(facts.subject, certFacts(tempFile(certificateToPem(old))).subject, 'openssl reads the same subject');

  const distinct = await successorCa(old, { now, distinctName: true });
  assert.equal(distinct.cert.commonName, 'kubernetes-20261204');
});

test('an operator CA that cannot take over is named: not a CA, a foreign key, the CA in use, the old key, about to expire', async () => {
  const now = new Date();
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const old = await selfSignCa({ commonName: 'etcd-ca', key, notBefore: now, notAfter: new Date(now.getTime() + 3 * 86_400_000) });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  assert.match(unfitSuccessor({ cert: old, key: other }, old, now) ?? '', /key does not match/);
  assert.match(unfitSuccessor({ cert: old, key }, old, now) ?? '', /the CA in use now/);
  const sameKey = await selfSignCa({ commonName: 'etcd-ca', key, notBefore: now, notAfter: new Date(now.getTime() + 86_400_000 * 300) });
  assert.match(unfitSuccessor({ cert: sameKey, key }, old, now) ?? '', /same key/);
  const shortLived = await selfSignCa({ commonName: 'etcd-ca', key: other, notBefore: now, notAfter: new Date(now.getTime() + 3600_000) });
  assert.match(unfitSuccessor({ cert: shortLived, key: other }, old, now) ?? '', /expires/);
  const leaf = await issueCertificate({
    subject: distinguishedName('not-a-ca'),
    extensions: leafExtensions({ commonName: 'not-a-ca', extKeyUsages: ['clientAuth'] }),
    publicKey: other,
    notBefore: now,
    notAfter: new Date(now.getTime() + 86_400_000 * 300),
    signer: { cert: old, key },
  });
  assert.match(unfitSuccessor({ cert: leaf, key: other }, old, now) ?? '', /not a CA certificate/);
});
