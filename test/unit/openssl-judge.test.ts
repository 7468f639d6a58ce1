// The batched openssl judges (one verify per CA, one storeutl for many certificates) must fail where one run per
// certificate fails: a foreign key, a certificate from another CA, and facts that belong to the right file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { certFacts, certTexts, openssl, opensslSelfSignedCa, publicKeyTextOfKey, tempFile, verifiesEach } from '../helpers/openssl.js';

function rsaCa(commonName: string): { key: string; cert: string } {
  const key = tempFile('');
  const cert = tempFile('');
  const r = openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${commonName}`,
    '-days',
    '2',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  assert.equal(r.status, 0, r.stderr);
  return { key, cert };
}

function ecCa(commonName: string): { key: string; cert: string } {
  const key = tempFile('');
  const cert = tempFile('');
  opensslSelfSignedCa(commonName, key, cert);
  return { key, cert };
}

test('certTexts: each file gets its own facts; a key matches only its own certificate (RSA and ECDSA)', () => {
  const [a, b, c] = [rsaCa('judge-a'), ecCa('judge-b'), ecCa('judge-c')];
  const texts = certTexts([a.cert, b.cert, c.cert]);
  assert.deepEqual(
    texts.map((t) => t.subject),
    ['CN=judge-a', 'CN=judge-b', 'CN=judge-c'],
  );
  for (const [i, ca] of [a, b, c].entries()) {
    assert.ok(texts[i].publicKey.startsWith('Public-Key:'), texts[i].publicKey);
    assert.equal(texts[i].publicKey, publicKeyTextOfKey(ca.key), `key ${i} matches its certificate`);
    assert.equal(texts[i].notAfter.getTime(), certFacts(ca.cert).notAfter.getTime(), 'the same notAfter as openssl x509');
  }
  assert.notEqual(texts[1].publicKey, publicKeyTextOfKey(c.key), 'another EC key of the same curve does not match');
  assert.notEqual(texts[0].publicKey, publicKeyTextOfKey(b.key), 'an EC key does not match an RSA certificate');
  assert.throws(() => certTexts([tempFile('no certificate here\n')]), /holds no PEM certificate/);
});

test('verifiesEach: one verdict per pair, a stranger fails while its neighbours pass', () => {
  const [a, b] = [ecCa('verify-a'), ecCa('verify-b')];
  const verdicts = verifiesEach([
    [a.cert, a.cert],
    [a.cert, b.cert],
    [b.cert, b.cert],
  ]);
  assert.deepEqual(
    verdicts.map((v) => v.ok),
    [true, false, true],
  );
});
