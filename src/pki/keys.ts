// Private keys: read any PEM form, generate a key like another, write as kubeadm does (PKCS#1 / SEC1).
import { KpkiError } from '../errors.js';
import { createPrivateKey, generateKeyPair, KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { children, oidString, Tlv, tlv } from './der.js';
import { NULL, objectId, sequence, tlv as encodeTlv } from './der-write.js';
import { isPrivateKeyType, parsePem, toPem } from './pem.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export type KeyAlgorithm = 'RSA-2048' | 'RSA-3072' | 'RSA-4096' | 'ECDSA-P256' | 'ECDSA-P384';
export const KEY_ALGORITHMS: KeyAlgorithm[] = ['RSA-2048', 'RSA-3072', 'RSA-4096', 'ECDSA-P256', 'ECDSA-P384'];

export class KeyFormatError extends KpkiError {}

/** Parses the first private key in a PEM text. Throws KeyFormatError when there is none or it is corrupt. */
export function parsePrivateKey(pem: string | Buffer): KeyObject {
  const text = typeof pem === 'string' ? pem : pem.toString('latin1');
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type: *4, *ENCRYPTED/m.test(text)) {
    throw new KeyFormatError(
      'the private key is encrypted (it needs a passphrase, which kubeadm keys never have): decrypt it with `openssl pkey -in FILE -out FILE.plain`, or renew where it can be used',
    );
  }
  const block = parsePem(pem).find((b) => isPrivateKeyType(b.type));
  if (!block) throw new KeyFormatError('no PEM private key found');
  try {
    if (block.type === 'RSA PRIVATE KEY') return createPrivateKey({ key: block.der, format: 'der', type: 'pkcs1' });
    if (block.type === 'EC PRIVATE KEY') return createPrivateKey({ key: block.der, format: 'der', type: 'sec1' });
    return createPrivateKey({ key: block.der, format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new KeyFormatError(`corrupt ${block.type}: ${(err as Error).message}`);
  }
}

const RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const EC_PUBLIC_KEY = '1.2.840.10045.2.1';

/**
 * The SubjectPublicKeyInfo of a private key, read from its DER (PKCS#1 RSA, SEC1 EC with its public point, or PKCS#8
 * holding one of them) without handing it to OpenSSL; undefined for any other form. A key only matched against its
 * certificate (kpki check) needs nothing more, and parsing a key costs more than everything else check does with it.
 */
function publicHalf(der: Buffer, type: string): Buffer | undefined {
  const top = tlv(der, 0);
  const parts = children(der, top);
  const raw = (t: Tlv) => der.subarray(t.start, t.end);
  if (type === 'RSA PRIVATE KEY') return rsaSpki(raw(parts[1]), raw(parts[2]));
  if (type === 'EC PRIVATE KEY') return ecSpki(der, parts);
  // PKCS#8: version, AlgorithmIdentifier, OCTET STRING holding the PKCS#1 or SEC1 key
  const [algorithm, params] = children(der, parts[1]);
  const oid = oidString(der.subarray(algorithm.body, algorithm.end));
  const inner = der.subarray(parts[2].body, parts[2].end);
  if (oid === RSA_ENCRYPTION) {
    const rsa = children(inner, tlv(inner, 0));
    return rsaSpki(inner.subarray(rsa[1].start, rsa[1].end), inner.subarray(rsa[2].start, rsa[2].end));
  }
  if (oid === EC_PUBLIC_KEY && params) return ecSpki(inner, children(inner, tlv(inner, 0)), raw(params));
  return undefined;
}

function rsaSpki(modulus: Buffer, exponent: Buffer): Buffer {
  return sequence(sequence(objectId(RSA_ENCRYPTION), NULL), encodeTlv(0x03, Buffer.from([0]), sequence(modulus, exponent)));
}

/** SEC1: version, private key, [0] curve, [1] public point (Go and OpenSSL write both). */
function ecSpki(der: Buffer, parts: Tlv[], curveFromPkcs8?: Buffer): Buffer | undefined {
  const curve = parts.find((p) => p.tag === 0xa0);
  const point = parts.find((p) => p.tag === 0xa1);
  if (!point) return undefined;
  const curveOid = curveFromPkcs8 ?? (curve ? der.subarray(children(der, curve)[0].start, children(der, curve)[0].end) : undefined);
  if (!curveOid) return undefined;
  const bits = children(der, point)[0];
  return sequence(sequence(objectId(EC_PUBLIC_KEY), curveOid), der.subarray(bits.start, bits.end));
}

/**
 * The private key of a PEM text, parsed, unless it is only to be matched against a certificate and its public half is
 * the certificate's: then there is nothing more to know, and undefined is returned. Anything else (another form, a
 * mismatch, a corrupt key) is parsed as always, so the judge sees and names it.
 */
export function parseKeyUnlessMatching(pem: string | Buffer, spki?: Buffer): KeyObject | undefined {
  if (spki) {
    const block = parsePem(pem).find((b) => isPrivateKeyType(b.type));
    try {
      if (block && publicHalf(block.der, block.type)?.equals(spki)) return undefined;
    } catch {
      // not the DER this reader knows: node:crypto decides below
    }
  }
  return parsePrivateKey(pem);
}

/** The algorithm name (kubeadm's encryptionAlgorithm spelling) of a key, public or private. */
export function keyAlgorithmOf(key: KeyObject): KeyAlgorithm | string {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return `RSA-${details.modulusLength}`;
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve === 'prime256v1') return 'ECDSA-P256';
    if (details.namedCurve === 'secp384r1') return 'ECDSA-P384';
    if (details.namedCurve === 'secp521r1') return 'ECDSA-P521';
  }
  return `${key.asymmetricKeyType ?? 'unknown'}`;
}

export function isSupportedAlgorithm(name: string): name is KeyAlgorithm {
  return (KEY_ALGORITHMS as string[]).includes(name);
}

/**
 * Keys made at once: as many as libuv's pool has threads (4 unless UV_THREADPOOL_SIZE says more) but two, so that
 * file I/O meanwhile (a renewal backs up its files while its keys are made) is not queued behind them. The CLI makes
 * the pool two larger than that (cli/threadpool.ts).
 */
const KEYS_AT_ONCE = Math.max(1, (Number(process.env.UV_THREADPOOL_SIZE) || 4) - 2);
let making = 0;
const waiting: (() => void)[] = [];

export async function generatePrivateKey(algorithm: KeyAlgorithm): Promise<KeyObject> {
  // a finished key hands its slot straight to the next one waiting
  if (making < KEYS_AT_ONCE) making++;
  else await new Promise<void>((turn) => waiting.push(turn));
  try {
    return await makeKey(algorithm);
  } finally {
    const next = waiting.shift();
    if (next) next();
    else making--;
  }
}

async function makeKey(algorithm: KeyAlgorithm): Promise<KeyObject> {
  if (algorithm.startsWith('RSA-')) {
    const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: Number(algorithm.slice(4)) });
    return privateKey;
  }
  const namedCurve = algorithm === 'ECDSA-P384' ? 'secp384r1' : 'prime256v1';
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve });
  return privateKey;
}

/** PEM as kubeadm writes it: "RSA PRIVATE KEY" (PKCS#1) or "EC PRIVATE KEY" (SEC1). */
export function privateKeyToPem(key: KeyObject): string {
  if (key.asymmetricKeyType === 'rsa') {
    return toPem('RSA PRIVATE KEY', key.export({ format: 'der', type: 'pkcs1' }));
  }
  if (key.asymmetricKeyType === 'ec') {
    return toPem('EC PRIVATE KEY', key.export({ format: 'der', type: 'sec1' }));
  }
  return toPem('PRIVATE KEY', key.export({ format: 'der', type: 'pkcs8' }));
}
