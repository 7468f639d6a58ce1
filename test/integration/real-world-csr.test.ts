// kpki csr on every real-world tree: each request carries exactly the subject and SANs of the certificate it
// replaces (openssl reads both), belongs to the key left beside it, and nothing else on the node changes.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { join } from 'node:path';
import { caseNames, copyCase, FixtureRoot, fixturesPresent, SKIP_REASON } from '../helpers/fixtures.js';
import { checkJson, JsonInfo, judgeNode } from '../helpers/judge.js';
import { hashTree, kpki, removeTree, tempRoot } from '../helpers/kpki.js';
import { certTexts, signRequest } from '../helpers/openssl.js';

const roots: string[] = [];
/** The cases whose CA keys came with them: signed and imported. */
const imports: string[] = [];
after(() => roots.forEach(removeTree));

const openssl = (args: string[]) => spawnSync('openssl', args, { encoding: 'utf8' });

/** What openssl reads from a request, in one run: its self-signature verdict, subject and SANs (printed as
 * `openssl storeutl` prints a certificate's: certTexts), and its public key. */
function requestFacts(csr: string): { verdict: string; subject: string; sans: string; publicKey: string } {
  const r = openssl(['req', '-in', csr, '-noout', '-verify', '-pubkey', '-text', '-nameopt', 'compat']);
  return {
    verdict: r.stdout + r.stderr,
    subject: /^\s+Subject: (.*)$/m.exec(r.stdout)?.[1]?.trim() ?? '',
    sans: /X509v3 Subject Alternative Name:.*\n\s+(.*)/.exec(r.stdout)?.[1]?.trim() ?? '',
    publicKey: /-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----\n/.exec(r.stdout)?.[0] ?? '',
  };
}

describe('kpki csr on the real-world trees', { skip: fixturesPresent ? false : SKIP_REASON }, () => {
  for (const name of caseNames()) {
    test(name, () => {
      const fx = copyCase(name);
      const out = tempRoot('kpki-csr-');
      roots.push(fx.root, out);
      const before = hashTree(fx.root);
      const r = kpki([
        '--root',
        fx.root,
        ...fx.flags,
        'csr',
        'all',
        '--out',
        out,
        '--node-name',
        'n',
        '--key-algorithm',
        'ECDSA-P256',
        '--yes',
      ]);
      assert.equal(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
      if (/nothing to request/i.test(r.stdout)) return assert.equal(hashTree(fx.root), before, `${name}: nothing written`);
      const requests = JSON.parse(readFileSync(join(out, 'n', 'csr.json'), 'utf8')).requests as Requested[];
      assert.ok(requests.length > 0, name);
      const json = checkJson(fx.root, fx.flags).info;
      const replaced = certTexts(
        requests.map((request) => {
          const cert = json.certificates.find((c) => c.name === request.name)!;
          return /\.(crt|pem)$/.test(cert.path) ? join(fx.root, cert.path) : embeddedCertificate(join(fx.root, cert.path), out);
        }),
      );
      requests.forEach((request, i) => {
        const csr = join(out, 'n', request.csr);
        const asked = requestFacts(csr);
        assert.match(asked.verdict, /verify OK/, `${name}: ${request.name}`);
        const key = join(fx.root, request.keyOnNode);
        assert.equal(statSync(key).mode & 0o777, 0o600, `${name}: ${request.keyOnNode}`);
        assert.ok(asked.publicKey, `${name}: ${request.name}: openssl printed the request's public key`);
        assert.equal(asked.publicKey, openssl(['pkey', '-in', key, '-pubout']).stdout, `${name}: ${request.name} belongs to its key`);
        assert.ok(replaced[i].subject, `${name}: ${request.name}: openssl read the subject of the certificate it replaces`);
        assert.equal(asked.subject, replaced[i].subject, `${name}: ${request.name}: the subject`);
        assert.equal(asked.sans, replaced[i].sans, `${name}: ${request.name}: the SANs`);
      });
      // nothing but the pending keys was written
      const aside = join(out, 'aside');
      mkdirSync(aside);
      requests.forEach((r, i) => renameSync(join(fx.root, r.keyOnNode), join(aside, String(i))));
      assert.equal(hashTree(fx.root), before, `${name}: only the pending keys were written`);
      requests.forEach((r, i) => renameSync(join(aside, String(i)), join(fx.root, r.keyOnNode)));
      importSigned(name, fx, out, json, requests);
    });
  }
  test("the round trip (sign with the tree's own CA, import, openssl judges) ran on the cases whose CA keys came with them", (t) => {
    t.diagnostic(`imported: ${imports.join(', ')}`);
    assert.ok(imports.length >= 15, `only ${imports.length} case(s) imported: ${imports.join(', ')}`);
  });
});

type Requested = { name: string; csr: string; crt: string; ca: string; extKeyUsages: string[]; keyOnNode: string };

/** The tree's own CA signs every request with openssl (where its key is in the tree); import installs them all. */
function importSigned(name: string, fx: FixtureRoot, out: string, json: JsonInfo, requests: Requested[]): void {
  const caOf = (r: Requested) => json.certificateAuthorities.find((c) => c.name === r.ca)!;
  const keyOf = (r: Requested) => join(fx.root, caOf(r).path.replace(/\.(crt|pem)$/, '.key'));
  // a CA known only from a kubeconfig's certificate-authority-data, or whose key did not come with the case
  const unsignable = requests.filter((r) => !/\.(crt|pem)$/.test(caOf(r).path) || !existsSync(keyOf(r)));
  if (unsignable.length > 0) return;
  imports.push(name);
  for (const r of requests) {
    const caCrt = join(fx.root, caOf(r).path);
    signRequest({ csr: join(out, 'n', r.csr), caCrt, caKey: keyOf(r), extKeyUsages: r.extKeyUsages, out: join(out, 'n', r.crt) });
  }
  const imported = kpki(['--root', fx.root, ...fx.flags, 'import', '--from', out, '--node-name', 'n', '--yes']);
  assert.equal(imported.status, 0, `${name}: import: ${imported.stdout}${imported.stderr}`);
  const after = checkJson(fx.root, fx.flags).info;
  const installed = after.certificates.filter((c) => requests.some((r) => r.name === c.name));
  assert.equal(judgeNode(fx.root, { ...after, certificates: installed }, name), requests.length, `${name}: openssl judged each`);
  for (const r of requests) assert.equal(existsSync(join(fx.root, r.keyOnNode)), false, `${name}: ${r.keyOnNode} was moved into place`);
}

/** A kubeconfig's embedded client certificate, written to a file for openssl. */
function embeddedCertificate(kubeconfig: string, scratch: string): string {
  const doc = parse(readFileSync(kubeconfig, 'utf8')) as { users: { user: Record<string, string> }[] };
  const file = join(scratch, `embedded-${Math.random().toString(16).slice(2)}.crt`);
  writeFileSync(file, Buffer.from(doc.users[0].user['client-certificate-data'], 'base64'));
  return file;
}
