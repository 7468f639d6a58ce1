// kpki's DER writer against its DER reader and against openssl: names, SANs (IPv4, IPv6, mapped), key usage bits,
// times either side of 2050, serials with the high bit set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { subjectAltNames } from '../../src/pki/der.js';
import { generalNames, integerFromHex, keyUsageBits, time } from '../../src/pki/der-write.js';
import { certificateToPem } from '../../src/pki/certificate.js';
import { distinguishedName, issueCertificate, leafExtensions, selfSignCa } from '../../src/pki/issue.js';
import { parseKeyUnlessMatching } from '../../src/pki/keys.js';
import { openssl, tempFile } from '../helpers/openssl.js';

test('SANs: what is written reads back the same (IPv6 compressed as RFC 5952, IPv4-mapped)', () => {
  const ips = ['127.0.0.11', '2001:db8::1', '::1', 'fe80::1:2:3:4', '::ffff:192.0.2.1', '1:2:3:4:5:6:7:8'];
  const read = subjectAltNames(generalNames(['a.example', 'kubernetes'], ips));
  assert.deepEqual(read.dnsNames, ['a.example', 'kubernetes']);
  assert.deepEqual(read.ipAddresses, ['127.0.0.11', '2001:db8::1', '::1', 'fe80::1:2:3:4', '::ffff:c000:201', '1:2:3:4:5:6:7:8']);
});

test('key usage bits, times and serials as DER wants them', () => {
  assert.equal(keyUsageBits([0, 2]).toString('hex'), '030205a0', 'digitalSignature, keyEncipherment');
  assert.equal(keyUsageBits([0, 2, 5]).toString('hex'), '030202a4', '... and keyCertSign');
  assert.equal(time(new Date('2049-12-31T23:59:59Z')).toString('latin1').slice(2), '491231235959Z');
  assert.equal(time(new Date('2050-01-01T00:00:00Z'))[0], 0x18, 'GeneralizedTime from 2050 on');
  assert.equal(integerFromHex('80').toString('hex'), '02020080', 'a high bit gets a 00 byte');
  assert.equal(integerFromHex('0001').toString('hex'), '020101', 'no redundant zero bytes');
});

test('a CA and a leaf valid past 2050, with a name that is not PrintableString: openssl reads and verifies them', async () => {
  const caKey = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
  const leafKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const notBefore = new Date('2026-01-01T00:00:00Z');
  const notAfter = new Date('2060-01-01T00:00:00Z');
  const ca = await selfSignCa({ commonName: 'kubernetes', key: caKey, notBefore, notAfter });
  const leaf = await issueCertificate({
    subject: distinguishedName('system:node:cp1@x', ['system:nodes']),
    extensions: leafExtensions({ commonName: 'x', ipAddresses: ['::1'], extKeyUsages: ['clientAuth', 'serverAuth'] }),
    publicKey: leafKey,
    notBefore,
    notAfter,
    signer: { cert: ca, key: caKey },
  });
  const caFile = tempFile(certificateToPem(ca));
  const leafFile = tempFile(certificateToPem(leaf));
  const verified = openssl(['verify', '-attime', String(Date.parse('2055-01-01') / 1000), '-CAfile', caFile, leafFile]);
  assert.match(verified.stdout, /: OK/, verified.stderr);
  const text = openssl(['x509', '-in', leafFile, '-noout', '-text', '-nameopt', 'RFC2253']).stdout;
  assert.match(text, /Subject: CN=system:node:cp1@x,O=system:nodes/);
  assert.match(text, /Not After : Jan {2}1 00:00:00 2060 GMT/);
  assert.match(text, /TLS Web Client Authentication, TLS Web Server Authentication/);
  assert.match(text, /IP Address:0:0:0:0:0:0:0:1/);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA384/);
});

test('a key is matched against its certificate from its DER (PKCS#1, SEC1, PKCS#8; RSA and EC), anything else is parsed', () => {
  const forms = [
    ['rsa', { modulusLength: 2048 }, 'pkcs1'],
    ['rsa', { modulusLength: 2048 }, 'pkcs8'],
    ['ec', { namedCurve: 'P-256' }, 'sec1'],
    ['ec', { namedCurve: 'P-384' }, 'pkcs8'],
  ] as const;
  for (const [type, options, format] of forms) {
    const { privateKey, publicKey } = generateKeyPairSync(type as 'rsa', options as { modulusLength: number });
    const pem = privateKey.export({ format: 'pem', type: format as 'pkcs1' }) as string;
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    assert.equal(parseKeyUnlessMatching(pem, spki), undefined, `${type} ${format}: its own certificate's key needs no parsing`);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
    const parsed = parseKeyUnlessMatching(pem, other);
    assert.ok(parsed, `${type} ${format}: another certificate's key is parsed, so the judge can name the mismatch`);
    assert.equal(keyMatchesSpki(parsed!, other), false);
  }
  assert.throws(
    () => parseKeyUnlessMatching('-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n', Buffer.alloc(1)),
    /corrupt/,
  );
});

function keyMatchesSpki(key: import('node:crypto').KeyObject, spki: Buffer): boolean {
  return createPublicKey(key).export({ format: 'der', type: 'spki' }).equals(spki);
}

test("a CA's subject key identifier is the SHA-1 of its public key, as openssl computes it: two CAs with different keys never share one", async () => {
  const now = new Date();
  const later = new Date(now.getTime() + 86_400_000);
  const ids = new Set<string>();
  for (const key of [
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey,
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
  ]) {
    const ca = await selfSignCa({ commonName: 'etcd-ca', key, notBefore: now, notAfter: later });
    const keyFile = tempFile(key.export({ type: 'pkcs8', format: 'pem' }));
    // openssl's own certificate for the same key, with its subjectKeyIdentifier=hash
    const theirs = openssl([
      'req',
      '-new',
      '-x509',
      '-key',
      keyFile,
      '-subj',
      '/CN=judge',
      '-days',
      '1',
      '-addext',
      'subjectKeyIdentifier=hash',
    ]);
    assert.equal(theirs.status, 0, theirs.stderr);
    const skid = openssl(['x509', '-noout', '-ext', 'subjectKeyIdentifier'], theirs.stdout).stdout.split('\n')[1].trim().replace(/:/g, '');
    assert.equal(ca.subjectKeyId?.toUpperCase(), skid.toUpperCase(), `${key.asymmetricKeyType}: openssl computes the same key identifier`);
    ids.add(skid);
  }
  assert.equal(ids.size, 4);
});
