// Public keys as kube-apiserver reads them from --service-account-key-file: every PEM block of a file ("PUBLIC KEY",
// "RSA PUBLIC KEY", or a private key whose public half is used), in order. A file may hold several keys: all verify.
import { createHash, createPublicKey, KeyObject } from 'node:crypto';
import { generatePrivateKey, isSupportedAlgorithm, keyAlgorithmOf } from './keys.js';
import { isPrivateKeyType, parsePem, toPem } from './pem.js';

/** The public keys of a PEM text, in file order; a block that is not a key is an error naming its type. */
export function publicKeysOf(pem: string | Buffer): KeyObject[] {
  return parsePem(pem).map((block) => {
    try {
      if (block.type === 'PUBLIC KEY') return createPublicKey({ key: block.der, format: 'der', type: 'spki' });
      if (block.type === 'RSA PUBLIC KEY') return createPublicKey({ key: block.der, format: 'der', type: 'pkcs1' });
      if (isPrivateKeyType(block.type)) return createPublicKey({ key: toPem(block.type, block.der), format: 'pem' });
    } catch (err) {
      throw new Error(`corrupt ${block.type}: ${(err as Error).message}`);
    }
    throw new Error(`a ${block.type} block where a public key was expected`);
  });
}

export const spkiOf = (key: KeyObject): Buffer =>
  (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });

/** SHA-256 of the SubjectPublicKeyInfo, hex: one key's identity whatever file or form holds it. */
export const keyFingerprint = (key: KeyObject): string => createHash('sha256').update(spkiOf(key)).digest('hex');

/** The key ID kube-apiserver gives a service-account key (token header "kid", JWKS): base64url SHA-256 of the SPKI. */
export const serviceAccountKeyId = (key: KeyObject): string => createHash('sha256').update(spkiOf(key)).digest('base64url');

export const publicKeyToPem = (key: KeyObject): string => toPem('PUBLIC KEY', spkiOf(key));

/** A new key pair of the same kind as `old` (RSA of its size, or its curve), for a service-account key rotation. */
export async function successorKey(old: KeyObject): Promise<KeyObject> {
  const algorithm = keyAlgorithmOf(old);
  return generatePrivateKey(isSupportedAlgorithm(algorithm) ? algorithm : 'RSA-2048');
}
