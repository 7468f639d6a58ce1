// openssl as the independent judge of what kpki writes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';

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
  const r = openssl(['verify', '-CAfile', caFile, certFile]);
  return { ok: r.status === 0 && r.stdout.includes(': OK'), output: r.stdout + r.stderr };
}

export interface OpensslCertFacts {
  subject: string;
  notAfter: Date;
  sans: string;
  eku: string;
  spki: string;
}

export function certFacts(certFile: string): OpensslCertFacts {
  const text = openssl([
    'x509',
    '-in',
    certFile,
    '-noout',
    '-subject',
    '-enddate',
    '-ext',
    'subjectAltName,extendedKeyUsage',
    '-nameopt',
    'RFC2253',
  ]).stdout;
  const subject = /^subject=(.*)$/m.exec(text)?.[1]?.trim() ?? '';
  const notAfter = new Date(/^notAfter=(.*)$/m.exec(text)?.[1] ?? '');
  const sans = /X509v3 Subject Alternative Name:.*\n\s+(.*)/.exec(text)?.[1]?.trim() ?? '';
  const eku = /X509v3 Extended Key Usage:.*\n\s+(.*)/.exec(text)?.[1]?.trim() ?? '';
  return { subject, notAfter, sans, eku, spki: publicKeyOfCert(certFile) };
}

export function publicKeyOfCert(certFile: string): string {
  return openssl(['x509', '-in', certFile, '-noout', '-pubkey']).stdout.trim();
}

export function publicKeyOfKey(keyFile: string): string {
  return openssl(['pkey', '-in', keyFile, '-pubout']).stdout.trim();
}

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
