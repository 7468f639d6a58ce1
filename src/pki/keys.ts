// Private keys: read any PEM form, generate a key like another, write as kubeadm does (PKCS#1 / SEC1).
import { createPrivateKey, generateKeyPair, KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { isPrivateKeyType, parsePem, toPem } from './pem.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export type KeyAlgorithm = 'RSA-2048' | 'RSA-3072' | 'RSA-4096' | 'ECDSA-P256' | 'ECDSA-P384';
export const KEY_ALGORITHMS: KeyAlgorithm[] = ['RSA-2048', 'RSA-3072', 'RSA-4096', 'ECDSA-P256', 'ECDSA-P384'];

export class KeyFormatError extends Error {}

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

export async function generatePrivateKey(algorithm: KeyAlgorithm): Promise<KeyObject> {
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
