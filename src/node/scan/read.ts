// Reading node files for a scan: absent is a normal answer, anything else unreadable is reported with its path.
import type { Host } from '../../hosts/host.js';
import { Certificate, CertFormatError, parseCertificate, parseCertificateChain } from '../../pki/certificate.js';
import { KeyFormatError, parseKeyUnlessMatching, parsePrivateKey } from '../../pki/keys.js';
import type { KeyObject } from 'node:crypto';

export type ReadResult<T> = { ok: true; value: T } | { ok: false; absent: true } | { ok: false; absent: false; error: string };

export async function readOptional(host: Host, path: string): Promise<ReadResult<Buffer>> {
  try {
    return { ok: true, value: await host.readFile(path) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      const info = await host.stat(path).catch(() => null);
      if (info?.type === 'symlink') return { ok: false, absent: false, error: `dangling symlink to ${info.linkTarget}` };
      return { ok: false, absent: true };
    }
    if (code === 'EISDIR') return { ok: false, absent: false, error: 'is a directory, not a file' };
    return { ok: false, absent: false, error: (err as Error).message };
  }
}

export async function readCertificate(host: Host, path: string): Promise<ReadResult<Certificate>> {
  const file = await readOptional(host, path);
  if (!file.ok) return file;
  try {
    return { ok: true, value: parseCertificate(file.value) };
  } catch (err) {
    if (err instanceof CertFormatError) return { ok: false, absent: false, error: describeEmpty(file.value, err.message) };
    throw err;
  }
}

/** The first certificate of a file and the ones written after it (a chain, or a CA that travels with the leaf). */
export async function readCertificateChain(host: Host, path: string): Promise<ReadResult<{ cert: Certificate; chain: Certificate[] }>> {
  const file = await readOptional(host, path);
  if (!file.ok) return file;
  try {
    const [cert, ...chain] = parseCertificateChain(file.value);
    return { ok: true, value: { cert, chain } };
  } catch (err) {
    if (err instanceof CertFormatError) return { ok: false, absent: false, error: describeEmpty(file.value, err.message) };
    throw err;
  }
}

export async function readKey(host: Host, path: string): Promise<ReadResult<KeyObject>> {
  const file = await readOptional(host, path);
  if (!file.ok) return file;
  try {
    return { ok: true, value: parsePrivateKey(file.value) };
  } catch (err) {
    if (err instanceof KeyFormatError) return { ok: false, absent: false, error: describeEmpty(file.value, err.message) };
    throw err;
  }
}

function describeEmpty(data: Buffer, message: string): string {
  if (data.length === 0) return 'empty file';
  if (data.includes('-----BEGIN') && !data.includes('-----END')) return 'truncated PEM (no END line)';
  return message;
}

/**
 * Which private keys a scan parses: renewal needs all; check only leaves, and only to match them ('match': a key whose
 * public half is its certificate's is not parsed at all); the exporter none.
 */
export interface KeyLoading {
  ca: boolean;
  leaf: boolean | 'match';
}

export const LOAD_ALL_KEYS: KeyLoading = { ca: true, leaf: true };

/** A key file read and parsed, or only looked at (present or not) when it is not to be loaded. */
export async function readOrStatKey(host: Host, path: string, load: boolean): Promise<ReadResult<KeyObject | undefined>> {
  if (load) return readKey(host, path);
  const info = await host.stat(path).catch(() => null);
  if (!info) return { ok: false, absent: true };
  if (info.type === 'symlink') {
    const target = await host.stat(await host.resolve(path)).catch(() => null);
    if (!target) return { ok: false, absent: false, error: `dangling symlink to ${info.linkTarget}` };
  }
  return { ok: true, value: undefined };
}

/**
 * A key file only to be matched against its certificate (check): parsed only when its public half is not the
 * certificate's (the judge then names the mismatch); the bytes are kept either way (a TLS client may use them).
 */
export async function readMatchedKey(host: Host, path: string, certSpki?: Buffer): Promise<ReadResult<{ key?: KeyObject; pem: Buffer }>> {
  const file = await readOptional(host, path);
  if (!file.ok) return file;
  try {
    return { ok: true, value: { key: parseKeyUnlessMatching(file.value, certSpki), pem: file.value } };
  } catch (err) {
    if (err instanceof KeyFormatError) return { ok: false, absent: false, error: describeEmpty(file.value, err.message) };
    throw err;
  }
}
