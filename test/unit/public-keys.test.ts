// Public keys as kube-apiserver reads --service-account-key-file: every block of a file, in order, whatever its PEM
// form; the key ID kube-apiserver gives a key (base64url SHA-256 of its SPKI) computed by openssl independently; a
// successor key of the old kind and size; a file holding something else is an error naming the block.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { signedByOneOf } from '../../src/api/legacy-tokens.js';
import { privateKeyToPem } from '../../src/pki/keys.js';
import { keyFingerprint, publicKeysOf, publicKeyToPem, serviceAccountKeyId, successorKey } from '../../src/pki/public-keys.js';
import { openssl, tempFile } from '../helpers/openssl.js';

test('every key of a bundle, in order, in PUBLIC KEY, RSA PUBLIC KEY and private-key form', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const pkcs1 = createPublicKey(rsa).export({ type: 'pkcs1', format: 'pem' }).toString();
  const text = `${publicKeyToPem(ec)}${pkcs1}${privateKeyToPem(ec)}`;
  const keys = publicKeysOf(text);
  assert.deepEqual(keys.map(keyFingerprint), [ec, rsa, ec].map(keyFingerprint));
  assert.throws(
    () => publicKeysOf('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
    /a CERTIFICATE block where a public key was expected/,
  );
  assert.throws(() => publicKeysOf('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'), /corrupt PUBLIC KEY/);
});

test("the key ID is kube-apiserver's: base64url SHA-256 of the SPKI, as openssl computes it", () => {
  for (const key of [
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
  ]) {
    const derFile = tempFile('');
    const der = openssl(['pkey', '-pubin', '-in', tempFile(publicKeyToPem(key)), '-outform', 'DER', '-out', derFile]);
    assert.equal(der.status, 0, der.stderr);
    const digest = openssl(['dgst', '-sha256', '-hex', derFile]).stdout.trim().split('= ')[1];
    assert.equal(serviceAccountKeyId(key), Buffer.from(digest, 'hex').toString('base64url'));
  }
});

test('a successor key is of the old kind and size, and new', async () => {
  const old = generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
  const next = await successorKey(old);
  assert.equal(next.asymmetricKeyDetails?.modulusLength, 3072);
  assert.notEqual(keyFingerprint(next), keyFingerprint(old));
  const ec = await successorKey(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey);
  assert.equal(ec.asymmetricKeyDetails?.namedCurve, 'secp384r1');
});

test('a legacy token is told apart by the key that signed it (RS256 and ES256, the kinds kube-controller-manager signs with)', () => {
  const jwt = (key: ReturnType<typeof generateKeyPairSync>['privateKey'], alg: string) => {
    const input = `${Buffer.from(JSON.stringify({ alg })).toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}`;
    return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  };
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  assert.equal(signedByOneOf(jwt(rsa.privateKey, 'RS256'), [other.publicKey, rsa.publicKey]), true);
  assert.equal(signedByOneOf(jwt(rsa.privateKey, 'RS256'), [other.publicKey, ec.publicKey]), false);
  assert.equal(signedByOneOf(jwt(ec.privateKey, 'ES256'), [ec.publicKey]), true);
  assert.equal(signedByOneOf(jwt(ec.privateKey, 'ES256'), [rsa.publicKey]), false);
  assert.equal(signedByOneOf('not.a.token', [rsa.publicKey]), false);
});
