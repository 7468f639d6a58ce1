// A node's disk as a broken or hostile one is: a FIFO, a device, a socket or a directory where a certificate should
// be, a certificate file that is a leaf and thousands of certificates after it, a certificate directory behind a
// symlink that leads nowhere. check, renew and the exporter must each say which file it is, in one line, and end;
// never hang, never read without end, never take minutes, never say "nothing to renew".
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { join } from 'node:path';
import { sharedHealthyNode } from '../helpers/lab.js';
import { hashTree, KPKI } from '../helpers/kpki.js';
import { startTracked, stopAll, waitFor } from '../helpers/processes.js';
import { distinguishedName, issueCertificate, leafExtensions } from '../../src/pki/issue.js';
import { certificateToPem, parseCertificate, Certificate } from '../../src/pki/certificate.js';
import { kpkiBounded, refusedLeavingAsItWas } from './hostile.js';

const { fresh } = sharedHealthyNode();
const PKI = 'etc/kubernetes/pki';
const servers: Server[] = [];
after(async () => {
  await stopAll();
  for (const s of servers) s.close();
});

/** Puts a special file where `rel` was: a FIFO, /dev/zero's device, a listening socket, or a directory. */
async function replaceWith(root: string, rel: string, kind: 'fifo' | 'device' | 'socket' | 'dir'): Promise<void> {
  const path = join(root, rel);
  rmSync(path);
  if (kind === 'fifo') execFileSync('mkfifo', [path]);
  if (kind === 'device') execFileSync('mknod', [path, 'c', '1', '5']); // what /dev/zero is: reads never end
  if (kind === 'dir') mkdirSync(path);
  if (kind === 'socket') {
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(path, resolve));
  }
}

const KINDS = [
  ['fifo', 'a FIFO \\(named pipe\\)'],
  ['device', 'a character device'],
  ['socket', 'a socket'],
  ['dir', 'a directory'],
] as const;

test("check --root names a FIFO, a device, a socket or a directory in a certificate's place, and ends (exit 3: a file could not be read)", async () => {
  for (const [kind, words] of KINDS) {
    const root = fresh();
    await replaceWith(root, `${PKI}/apiserver.crt`, kind);
    const r = kpkiBounded(['--root', root, 'check', '-o', 'wide']);
    assert.equal(r.hung, false, `check hung on ${kind}`);
    assert.equal(r.status, 3, `${kind}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^apiserver +- +unreadable +\/etc\/kubernetes\/pki\/apiserver\.crt/m, kind);
    assert.match(r.stderr, new RegExp(`apiserver\\.crt(: | )is ${words}`), kind);
  }
});

test("renew all refuses a node with a FIFO or a device in a certificate's place: one line naming it, every byte as it was", async () => {
  for (const [kind, words] of KINDS.slice(0, 2)) {
    const root = fresh();
    await replaceWith(root, `${PKI}/front-proxy-client.crt`, kind);
    refusedLeavingAsItWas([root], ['--root', root, 'renew', 'all', '--yes'], new RegExp(`front-proxy-client\\.crt.*${words}`), 1);
  }
  // a key that is a FIFO: renewal reads every key
  const root = fresh();
  await replaceWith(root, `${PKI}/apiserver.key`, 'fifo');
  refusedLeavingAsItWas([root], ['--root', root, 'renew', 'all', '--yes'], /apiserver\.key is a FIFO/, 1);
});

test("the exporter keeps answering with a FIFO on the disk, and /healthz while a reading hangs (a read error with the node's name)", async () => {
  const root = fresh();
  await replaceWith(root, `${PKI}/apiserver.crt`, 'fifo');
  const port = 19811;
  startTracked(process.execPath, [KPKI, '--root', root, 'exporter', '--listen', `127.0.0.1:${port}`, '--min-interval', '0s']);
  await waitFor('the exporter to listen', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok);
  for (let i = 0; i < 2; i++) {
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(20_000) })).text();
    // the FIFO is one read error per reading (each scrape reads again: --min-interval 0s)
    assert.match(
      metrics,
      new RegExp(`^x509_source_errors_total\\{source_kind="file",source_name="[^"]+",reason="read_failed"\\} ${i + 1}$`, 'm'),
    );
    assert.match(metrics, /^x509_cert_error\{[^}]*filepath="\/etc\/kubernetes\/pki\/apiserver\.crt"[^}]*\} 1$/m);
    assert.match(metrics, /^x509_cert_not_after\{[^}]*filepath="\/etc\/kubernetes\/pki\/ca\.crt"/m, 'the rest is read');
  }
  assert.ok((await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5_000) })).ok);

  // a disk whose read never returns (a dead NFS server; simulated: a test hook holds the read of ca.crt for ever)
  const stuckPort = 19812;
  const stuck = startTracked(
    process.execPath,
    [KPKI, '--root', fresh(), 'exporter', '--listen', `127.0.0.1:${stuckPort}`, '--read-timeout', '3s', '--node-name', 'cp-stuck'],
    { env: { ...process.env, KPKI_TEST_STUCK_READ: '/pki/ca.crt' } },
  );
  await waitFor('the exporter to listen', async () => (await fetch(`http://127.0.0.1:${stuckPort}/healthz`)).ok);
  const scrape = fetch(`http://127.0.0.1:${stuckPort}/metrics`, { signal: AbortSignal.timeout(20_000) }).then((r) => r.text());
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(
    (await fetch(`http://127.0.0.1:${stuckPort}/healthz`, { signal: AbortSignal.timeout(2_000) })).ok,
    '/healthz during the hung read',
  );
  const text = await scrape;
  assert.match(text, /^kpki_node_reachable\{node="cp-stuck"[^}]*\} 0$/m, (stuck as unknown as { log: string }).log + text);
});

/** A leaf that no CA of the node signed, then `count` CA certificates, each signed by the next, written in reverse order. */
async function leafAndChain(count: number, sameSubject: boolean): Promise<string> {
  const now = Date.now();
  const dates = { notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 300 * 86_400_000) };
  const keys = Array.from({ length: count + 1 }, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const caExtensions = [{ oid: '2.5.29.19', critical: true, value: Buffer.from([0x30, 0x03, 0x01, 0x01, 0xff]) }];
  // the top is self-signed by the last key: build from the top down
  const subject = (i: number) => distinguishedName(sameSubject ? 'intermediate' : `intermediate-${i}`);
  const certs: Certificate[] = [];
  let above: { cert: Certificate; key: (typeof keys)[0]['privateKey'] } | undefined;
  for (let i = count; i >= 1; i--) {
    const self = { subjectDer: subject(i) } as unknown as Certificate;
    const cert = await issueCertificate({
      subject: subject(i),
      extensions: caExtensions,
      publicKey: keys[i].publicKey,
      ...dates,
      signer: above ?? { cert: self, key: keys[i].privateKey, selfSigned: true },
    });
    certs.push(cert);
    above = { cert, key: keys[i].privateKey };
  }
  const leaf = await issueCertificate({
    subject: distinguishedName('kube-apiserver'),
    extensions: leafExtensions({ commonName: 'kube-apiserver', extKeyUsages: ['serverAuth'] }),
    publicKey: keys[0].publicKey,
    ...dates,
    signer: above!,
  });
  // leaf first, then the issuers from the top down: a chain search that tries them in file order tries them all
  return [leaf, ...certs].map(certificateToPem).join('');
}

test('a certificate file with a leaf and 3,000 chained certificates after it is judged at once (depth and signature checks bounded)', async () => {
  for (const sameSubject of [false, true]) {
    const root = fresh();
    writeFileSync(join(root, PKI, 'apiserver.crt'), await leafAndChain(3000, sameSubject));
    const r = kpkiBounded(['--root', root, 'check', '-o', 'json'], 60_000);
    assert.equal(r.hung, false, 'check ended');
    const item = JSON.parse(r.stdout).certificates.find((i: { name: string }) => i.name === 'apiserver');
    assert.ok(item.problems.length > 0, JSON.stringify(item));
    assert.equal(parseCertificate(readFileSync(join(root, PKI, 'apiserver.crt'))).commonName, 'kube-apiserver');
  }
});

test('--root whose certificate directory is a symlink leading nowhere in the root: refused naming the link, not "nothing to renew"', () => {
  const root = fresh();
  renameSync(join(root, PKI), join(root, 'etc/kubernetes/pki-moved'));
  symlinkSync('/data/kubernetes/pki', join(root, PKI));
  const before = hashTree(root);
  for (const args of [['renew', 'all', '--yes'], ['check']]) {
    const r = kpkiBounded(['--root', root, ...args]);
    assert.equal(r.status, 3, r.stdout + r.stderr);
    assert.match(r.stderr, /etc\/kubernetes\/pki is a symlink to \/data\/kubernetes\/pki, which does not exist inside the node's root/);
  }
  assert.equal(hashTree(root), before);
  assert.equal(readFileSync(join(root, 'etc/kubernetes/pki-moved/ca.crt')).length > 0, true);
});
