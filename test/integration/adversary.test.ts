// Tried as an adversary would, on copies of realistic node trees: what renewal must refuse (validity that cannot be
// meant, a CA that expired or cannot sign, bytes it cannot give back), what it must keep (a chain after the leaf),
// what check must see (a broken chain, a leaf that outlives its CA), what must stay bounded (a PEM without END lines),
// and usage errors that always exit 2. Every refusal leaves every byte of the tree as it was.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashTree, kpki, removeTree, tempRoot } from '../helpers/kpki.js';
import { sharedExpiredNode } from '../helpers/lab.js';
import { checkJson, pemBlocks } from '../helpers/judge.js';
import { openssl, tempFile } from '../helpers/openssl.js';
import { buildControlPlaneNode, makeClusterCas } from '../../src/trees/index.js';

const { fresh } = sharedExpiredNode();
const PKI = 'etc/kubernetes/pki';
const DAY = 86_400_000;
const extra: string[] = [];
after(() => extra.forEach(removeTree));

/** A refusal: non-zero, the message names `mentions`, the tree byte for byte as it was. */
function refused(root: string, args: string[], mentions: RegExp, status?: number): string {
  const before = hashTree(root);
  const r = kpki(['--root', root, ...args]);
  if (status !== undefined) assert.equal(r.status, status, r.stdout + r.stderr);
  else assert.notEqual(r.status, 0, r.stdout);
  assert.match(r.stderr, mentions);
  assert.equal(hashTree(root), before, 'the tree changed');
  return r.stderr;
}

test('usage errors exit 2 on every command: bad durations, dates that do not exist, unknown options and values', () => {
  const root = fresh();
  refused(root, ['renew', 'all', '--if-expires-within', 'garbage', '--yes'], /--if-expires-within: invalid duration "garbage"/, 2);
  refused(root, ['renew', 'all', '--validity', '1x', '--yes'], /--validity: invalid duration/, 2);
  refused(root, ['renew', 'all', '--validity', '300000y', '--yes'], /--validity: "300000y" reaches past the year 9999/, 2);
  refused(root, ['check', '--in', '99999999y'], /--in: "99999999y" reaches past the year 9999/, 2);
  refused(root, ['check', '--at', '2027-02-30'], /--at: "2027-02-30" is not a date/, 2);
  refused(root, ['check', '--at', '1'], /--at: "1" is not a date/, 2);
  refused(root, ['check', '-o', 'bogus'], /argument 'bogus' is invalid/, 2);
  refused(root, ['renew', 'all', '--frob'], /unknown option '--frob'/, 2);
  refused(root, ['kubelet', 'renew', '--frob'], /unknown option '--frob'/, 2);
  // a real leap day is a date: the tree is judged on it (expired then, so CRITICAL, 2, like a usage error: the output
  // tells them apart)
  const leap = kpki(['--root', root, 'check', '--at', '2028-02-29']);
  assert.equal(leap.status, 2, leap.stderr);
  assert.doesNotMatch(leap.stderr, /not a date|invalid|usage/i);
  assert.match(leap.stdout, /^CERTIFICATE\s+EXPIRES/m, 'the table was printed');
  assert.match(leap.stdout, /^apiserver\s.*expired/m, 'judged as on that day');
});

test('validity that cannot be meant is refused (shorter than an hour unless --force); --force gets what it asks', () => {
  const root = fresh();
  refused(root, ['renew', 'all', '--validity', '0d', '--yes'], /validity 0m \(--validity\) is shorter than an hour/, 2);
  refused(root, ['renew', 'all', '--validity', '1s', '--yes'], /shorter than an hour/, 2);
  const r = kpki(['--root', root, 'renew', 'apiserver', '--validity', '30m', '--force', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  const notAfter = new Date(
    /notAfter=(.*)/.exec(openssl(['x509', '-noout', '-enddate', '-in', join(root, PKI, 'apiserver.crt')]).stdout)![1],
  );
  assert.ok(Math.abs(notAfter.getTime() - (Date.now() + 30 * 60_000)) < 120_000, notAfter.toISOString());
});

test('a CA that already expired signs nothing: renew refuses with the CA file and what to do, the tree untouched', async () => {
  const root = tempRoot('kpki-expired-ca-');
  extra.push(root);
  const now = Date.now();
  const cas = await makeClusterCas({ notBefore: new Date(now - 3660 * DAY), notAfter: new Date(now - 2 * DAY) });
  await buildControlPlaneNode(root, cas, {
    nodeName: 'lab-cp1',
    address: '127.0.0.11',
    leafNotBefore: new Date(now - 400 * DAY),
    leafNotAfter: new Date(now - 35 * DAY),
  });
  const stderr = refused(
    root,
    ['renew', 'all', '--yes'],
    /its CA ca \(\/etc\/kubernetes\/pki\/ca\.crt\) expired on .*: kpki does not sign with an expired CA/,
    1,
  );
  assert.match(stderr, /hint: the cluster needs a new CA/);
});

test('a leaf followed by its chain in one file keeps the chain, and the plan says so', () => {
  const root = fresh();
  const crt = join(root, PKI, 'apiserver.crt');
  const ca = readFileSync(join(root, PKI, 'ca.crt'), 'utf8');
  appendFileSync(crt, ca);
  const dry = kpki(['--root', root, 'renew', 'apiserver', '--dry-run']);
  assert.match(
    dry.stdout,
    /chain: \/etc\/kubernetes\/pki\/apiserver\.crt has 1 certificate\(s\) after apiserver: they stay after the new one, unchanged/,
  );
  const r = kpki(['--root', root, 'renew', 'apiserver', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  const blocks = pemBlocks(readFileSync(crt, 'utf8'));
  assert.equal(blocks.length, 2);
  assert.equal(blocks[1], pemBlocks(ca)[0], 'the chain after the leaf is the same certificate, byte for byte');
  assert.ok(openssl(['verify', '-CAfile', join(root, PKI, 'ca.crt'), tempFile(blocks[0])]).stdout.includes(': OK'));
});

test('bytes that are not UTF-8 in a kubeconfig are never turned into U+FFFD: renew and kubeconfig update refuse, naming the file', () => {
  const root = fresh();
  const admin = join(root, 'etc/kubernetes/admin.conf');
  writeFileSync(admin, Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9]), Buffer.from(' (latin-1)\n'), readFileSync(admin)]));
  refused(root, ['renew', 'all', '--yes'], /admin\.conf: byte 5 is not UTF-8/);
  refused(
    root,
    ['kubeconfig', 'update', '--from', '/etc/kubernetes/super-admin.conf', '--to', '/etc/kubernetes/admin.conf'],
    /admin\.conf holds bytes that are not UTF-8/,
  );
});

test('a relative path in a manifest flag is resolved as the component resolves it (its working directory), not reported missing', () => {
  const root = fresh();
  const manifest = join(root, 'etc/kubernetes/manifests/kube-apiserver.yaml');
  writeFileSync(
    manifest,
    readFileSync(manifest, 'utf8')
      .replace('--tls-cert-file=/etc/kubernetes/pki/apiserver.crt', '--tls-cert-file=pki/apiserver.crt')
      .replace('--tls-private-key-file=/etc/kubernetes/pki/apiserver.key', '--tls-private-key-file=pki/apiserver.key')
      .replace(/^( {4})name: kube-apiserver$/m, '$1name: kube-apiserver\n$1workingDir: /etc/kubernetes'),
  );
  const { info } = checkJson(root);
  const apiserver = info.certificates.find((c) => c.name === 'apiserver')!;
  assert.equal(apiserver.missing, false, JSON.stringify(apiserver));
  assert.equal(apiserver.path, '/etc/kubernetes/pki/apiserver.crt');
});

test('an encrypted key and an Ed25519 CA are refused with the file and the reason', () => {
  const root = fresh();
  const key = join(root, PKI, 'front-proxy-client.key');
  const encrypted = tempFile('');
  assert.equal(openssl(['pkey', '-in', key, '-aes256', '-passout', 'pass:secret', '-out', encrypted]).status, 0);
  writeFileSync(key, readFileSync(encrypted));
  refused(root, ['renew', 'front-proxy-client', '--yes'], /front-proxy-client\.key: the private key is encrypted \(it needs a passphrase/);

  const other = fresh();
  const caKey = join(other, PKI, 'front-proxy-ca.key');
  const caCrt = join(other, PKI, 'front-proxy-ca.crt');
  assert.equal(
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ed25519',
      '-nodes',
      '-subj',
      '/CN=front-proxy-ca',
      '-days',
      '3650',
      '-keyout',
      caKey,
      '-out',
      caCrt,
    ]).status,
    0,
  );
  const csr = tempFile('');
  assert.equal(
    openssl(['req', '-new', '-key', join(other, PKI, 'front-proxy-client.key'), '-subj', '/CN=front-proxy-client', '-out', csr]).status,
    0,
  );
  assert.equal(
    openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caCrt,
      '-CAkey',
      caKey,
      '-set_serial',
      '4661',
      '-days',
      '30',
      '-out',
      join(other, PKI, 'front-proxy-client.crt'),
    ]).status,
    0,
  );
  refused(
    other,
    ['renew', 'front-proxy-client', '--yes'],
    /its CA front-proxy-ca has a ed25519 key \(\/etc\/kubernetes\/pki\/front-proxy-ca\.key\)/,
  );
});

test('check sees broken chains as Go and openssl do: an issuer that is no CA, a path length exceeded; and a leaf that outlives its CA', () => {
  const root = fresh();
  const pki = join(root, PKI);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  /** openssl req -x509 with exactly these extensions (not the config's v3_ca). */
  const selfSigned = (cn: string, extensions: string, key: string, crt: string) => {
    const config = tempFile(`[req]\ndistinguished_name=dn\nx509_extensions=ext\nprompt=no\n[dn]\nCN=${cn}\n[ext]\n${extensions}\n`);
    const r = openssl(['req', '-x509', ...ec, '-config', config, '-days', '3650', '-keyout', key, '-out', crt]);
    assert.equal(r.status, 0, r.stderr);
  };
  // front-proxy-ca replaced by a certificate that is not a CA, front-proxy-client signed by it
  const ext = tempFile('basicConstraints=critical,CA:FALSE\n');
  selfSigned('front-proxy-ca', 'basicConstraints=critical,CA:FALSE', join(pki, 'front-proxy-ca.key'), join(pki, 'front-proxy-ca.crt'));
  const csr = tempFile('');
  assert.equal(
    openssl(['req', '-new', '-key', join(pki, 'front-proxy-client.key'), '-subj', '/CN=front-proxy-client', '-out', csr]).status,
    0,
  );
  assert.equal(
    openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      join(pki, 'front-proxy-ca.crt'),
      '-CAkey',
      join(pki, 'front-proxy-ca.key'),
      '-set_serial',
      '4660',
      '-days',
      '30',
      '-extfile',
      ext,
      '-out',
      join(pki, 'front-proxy-client.crt'),
    ]).status,
    0,
  );
  assert.ok(
    !openssl(['verify', '-CAfile', join(pki, 'front-proxy-ca.crt'), join(pki, 'front-proxy-client.crt')]).stdout.includes(': OK'),
    'openssl rejects it too',
  );

  // ca replaced by one with pathlen:0; apiserver.crt = a leaf + the intermediate CA that signed it
  const ca = { crt: join(pki, 'ca.crt'), key: join(pki, 'ca.key') };
  selfSigned(
    'kubernetes',
    'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,digitalSignature\nsubjectKeyIdentifier=hash',
    ca.key,
    ca.crt,
  );
  const inter = { crt: tempFile(''), key: tempFile('') };
  const interCsr = tempFile('');
  assert.equal(openssl(['req', '-new', ...ec, '-subj', '/CN=intermediate', '-keyout', inter.key, '-out', interCsr]).status, 0);
  assert.equal(
    openssl([
      'x509',
      '-req',
      '-in',
      interCsr,
      '-CA',
      ca.crt,
      '-CAkey',
      ca.key,
      '-set_serial',
      '4660',
      '-days',
      '300',
      '-extfile',
      tempFile('basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n'),
      '-out',
      inter.crt,
    ]).status,
    0,
  );
  const leafCsr = tempFile('');
  assert.equal(openssl(['req', '-new', '-key', join(pki, 'apiserver.key'), '-subj', '/CN=kube-apiserver', '-out', leafCsr]).status, 0);
  const leaf = tempFile('');
  assert.equal(
    openssl(['x509', '-req', '-in', leafCsr, '-CA', inter.crt, '-CAkey', inter.key, '-set_serial', '4660', '-days', '200', '-out', leaf])
      .status,
    0,
  );
  writeFileSync(join(pki, 'apiserver.crt'), readFileSync(leaf, 'utf8') + readFileSync(inter.crt, 'utf8'));
  assert.match(
    openssl(['verify', '-CAfile', ca.crt, '-untrusted', inter.crt, leaf]).stdout +
      openssl(['verify', '-CAfile', ca.crt, '-untrusted', inter.crt, leaf]).stderr,
    /path length constraint exceeded/,
  );

  const { status, info } = checkJson(root);
  assert.equal(status, 2);
  const problems = (name: string) =>
    info.certificates
      .find((c) => c.name === name)!
      .problems.map((p) => `${p.code}: ${p.message}`)
      .join('\n');
  assert.match(
    problems('front-proxy-client'),
    /chain-invalid: signed by front-proxy-ca \(\/etc\/kubernetes\/pki\/front-proxy-ca\.crt\), which is not a CA/,
  );
  assert.match(
    problems('apiserver'),
    /chain-invalid: ca \(\/etc\/kubernetes\/pki\/ca\.crt\) allows 0 intermediate CA\(s\) below it \(pathLenConstraint\) and has 1/,
  );
  // (the intermediate expires in 300 days, the leaf it signed in 200: fine; a leaf past its CA is a warning)
  refused(root, ['renew', 'front-proxy-client', '--yes'], /which is not a CA/);
});

test("a leaf valid past its CA's own expiry is a warning: it stops working then", async () => {
  const root = tempRoot('kpki-outlive-');
  extra.push(root);
  const now = Date.now();
  const cas = await makeClusterCas({ notBefore: new Date(now - 3500 * DAY), notAfter: new Date(now + 100 * DAY) });
  await buildControlPlaneNode(root, cas, {
    nodeName: 'lab-cp1',
    address: '127.0.0.11',
    leafNotBefore: new Date(now - DAY),
    leafNotAfter: new Date(now + 364 * DAY),
  });
  const { status, info } = checkJson(root);
  assert.equal(status, 1);
  const api = info.certificates.find((c) => c.name === 'apiserver')!;
  assert.match(api.problems.map((p) => p.message).join(), /but its CA expires .*: it stops working then/);
});

test('a PEM without END lines is read in one pass; past 4 MiB a file is refused with its size, before it is read', () => {
  const root = fresh();
  const block = '-----BEGIN CERTIFICATE-----\nAAAA\n';
  // 3.9 MB: the old parser took minutes on this (quadratic); now it is just not a certificate
  writeFileSync(join(root, PKI, 'apiserver.crt'), block.repeat(Math.floor(3.9e6 / block.length)));
  const r = kpki(['--root', root, 'check']);
  assert.equal(r.status, 3, r.stdout + r.stderr);
  assert.match(r.stderr, /apiserver\.crt: truncated PEM \(no END line\)/);
  writeFileSync(join(root, PKI, 'apiserver.crt'), block.repeat(Math.floor(6e6 / block.length)));
  const big = kpki(['--root', root, 'check']);
  assert.equal(big.status, 3);
  assert.match(big.stderr, /apiserver\.crt is \d{7} bytes: kpki reads files of at most 4 MiB/);
  const metrics = kpki(['--root', root, 'exporter', '--once']);
  assert.equal(metrics.status, 0, metrics.stderr);
  assert.match(metrics.stdout, /^x509_source_errors_total\{source_kind="file",source_name="[^"]+",reason="read_failed"\} 1$/m);
});
