// openssl as the independent judge of what kpki writes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createHash, randomBytes } from 'node:crypto';

export function openssl(args: string[], input?: string | Buffer): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('openssl', args, { input, encoding: 'utf8' });
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

let scratchDir: string | undefined;

/** Temp files (some hold private keys) live in one directory per test process, removed when it exits. */
export function tempFile(content: string | Buffer): string {
  if (!scratchDir) {
    const dir = mkdtempSync(join(tmpdir(), 'kpki-ossl-'));
    scratchDir = dir;
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  const path = join(scratchDir, `${randomBytes(6).toString('hex')}.pem`);
  writeFileSync(path, content);
  return path;
}

/** `openssl verify -CAfile ca cert` (with the current time): true when OK. */
export function verifies(caFile: string, certFile: string): { ok: boolean; output: string } {
  return verifiesEach([[caFile, certFile]])[0];
}

/**
 * openssl verify for many (CA file, certificate file) pairs: one `openssl verify -CAfile ca cert...` per CA, which
 * prints a verdict line per certificate. The same judgement as one run per certificate, at a fraction of the starts.
 * `options` go to every run (e.g. -no_check_time).
 */
export function verifiesEach(pairs: [caFile: string, certFile: string][], options: string[] = []): { ok: boolean; output: string }[] {
  const byCa = new Map<string, string[]>();
  for (const [ca, cert] of pairs) byCa.set(ca, [...(byCa.get(ca) ?? []), cert]);
  const verdicts = new Map<string, { ok: boolean; output: string }>();
  for (const [ca, certs] of byCa) {
    const r = openssl(['verify', ...options, '-CAfile', ca, ...new Set(certs)]);
    const output = r.stdout + r.stderr;
    // a verdict line per certificate: "<file>: OK", or "error <file>: verification failed" after its reasons
    for (const cert of certs) verdicts.set(`${ca}\0${cert}`, { ok: output.split('\n').includes(`${cert}: OK`), output });
  }
  return pairs.map(([ca, cert]) => verdicts.get(`${ca}\0${cert}`)!);
}

export interface OpensslCertFacts {
  subject: string;
  notAfter: Date;
  sans: string;
  eku: string;
  spki: string;
}

const factsByContent = new Map<string, OpensslCertFacts>();

/** What `openssl x509` reads from a certificate file (its first certificate); the same bytes are read once. */
export function certFacts(certFile: string): OpensslCertFacts {
  const digest = createHash('sha256').update(readFileSync(certFile)).digest('hex');
  const known = factsByContent.get(digest);
  if (known) return known;
  const options = ['-subject', '-enddate', '-ext', 'subjectAltName,extendedKeyUsage', '-nameopt', 'RFC2253', '-pubkey'];
  const text = openssl(['x509', '-in', certFile, '-noout', ...options]).stdout;
  const subject = /^subject=(.*)$/m.exec(text)?.[1]?.trim() ?? '';
  const notAfter = new Date(/^notAfter=(.*)$/m.exec(text)?.[1] ?? '');
  const sans = /X509v3 Subject Alternative Name:.*\n\s+(.*)/.exec(text)?.[1]?.trim() ?? '';
  const eku = /X509v3 Extended Key Usage:.*\n\s+(.*)/.exec(text)?.[1]?.trim() ?? '';
  const spki = /-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/.exec(text)?.[0] ?? '';
  const facts = { subject, notAfter, sans, eku, spki };
  factsByContent.set(digest, facts);
  return facts;
}

export function publicKeyOfCert(certFile: string): string {
  return certFacts(certFile).spki;
}

export function publicKeyOfKey(keyFile: string): string {
  return openssl(['pkey', '-in', keyFile, '-pubout']).stdout.trim();
}

export interface OpensslCertText {
  subject: string;
  notAfter: Date;
  sans: string;
  eku: string;
  /** The public key as openssl prints it (from "Public-Key:"), whitespace removed: compare with publicKeyTextOfKey. */
  publicKey: string;
  /** All that openssl printed about the certificate. */
  text: string;
}

/**
 * The first certificate of each file as openssl prints it, all in one `openssl storeutl -text` run. OpenSSL 3.0's
 * x509 command costs ~35 ms of CPU a start (decoder set-up), storeutl ~15 ms for a whole node's certificates.
 */
export function certTexts(files: string[]): OpensslCertText[] {
  if (files.length === 0) return [];
  const firsts = files.map((file) => {
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(readFileSync(file, 'utf8'))?.[0];
    if (!pem) throw new Error(`${file} holds no PEM certificate`);
    return pem;
  });
  const bundle = tempFile(`${firsts.join('\n')}\n`);
  const r = openssl(['storeutl', '-noout', '-text', '-certs', bundle]);
  const blocks = r.stdout.split(/^\d+: Certificate$/m).slice(1);
  if (r.status !== 0 || blocks.length !== files.length)
    throw new Error(`openssl storeutl read ${blocks.length} of ${files.length} certificates: ${r.stderr}`);
  return blocks.map((text) => ({
    subject: /^\s+Subject: (.*)$/m.exec(text)?.[1]?.trim() ?? '',
    notAfter: new Date(/Not After *: (.*)$/m.exec(text)?.[1] ?? ''),
    sans: /X509v3 Subject Alternative Name:.*\n\s+(.*)/.exec(text)?.[1]?.trim() ?? '',
    eku: /X509v3 Extended Key Usage:.*\n\s+(.*)/.exec(text)?.[1]?.trim() ?? '',
    publicKey: squeeze(/(Public-Key:[\s\S]*?)\n\s*(X509v3 extensions:|Signature Algorithm:)/.exec(text)?.[1] ?? ''),
    text,
  }));
}

/** A private key's public half as `openssl pkey -text_pub` prints it, whitespace removed (compare with certTexts). */
export function publicKeyTextOfKey(keyFile: string): string {
  const r = openssl(['pkey', '-in', keyFile, '-noout', '-text_pub']);
  if (r.status !== 0) throw new Error(`openssl pkey could not read ${keyFile}: ${r.stderr}`);
  return squeeze(r.stdout);
}

const squeeze = (text: string) => text.replace(/\s+/g, '');

/** A CA team signs a request with openssl as it sees fit: the request's names, its own usages, 365 days. */
export function signRequest(o: { csr: string; caCrt: string; caKey: string; extKeyUsages: string[]; out: string; extra?: string }): void {
  const ext = tempFile(
    `keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=${o.extKeyUsages.join(',')}\nbasicConstraints=critical,CA:FALSE\n${o.extra ?? ''}`,
  );
  const serial = `0x${randomBytes(8).toString('hex')}`;
  const args = ['x509', '-req', '-in', o.csr, '-CA', o.caCrt, '-CAkey', o.caKey, '-set_serial', serial, '-days', '365'];
  const r = openssl([...args, '-copy_extensions', 'copy', '-extfile', ext, '-out', o.out]);
  if (r.status !== 0) throw new Error(`openssl could not sign ${o.csr}: ${r.stderr}`);
}

/** A self-signed EC P-256 CA made by openssl (a stranger's CA, for the refusal tests), valid for 30 days. */
export function opensslSelfSignedCa(commonName: string, keyOut: string, certOut: string): void {
  const r = openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    `/CN=${commonName}`,
    '-days',
    '30',
    '-keyout',
    keyOut,
    '-out',
    certOut,
  ]);
  if (r.status !== 0) throw new Error(`openssl could not make the CA ${commonName}: ${r.stderr}`);
}

/** How many certificates a PEM file or text holds (a CA bundle during a rotation holds two). */
export const pemCount = (text: Buffer | string) => (text.toString().match(/-----BEGIN CERTIFICATE-----/g) ?? []).length;
