// The CA that replaces another in a rotation: the same subject (byte for byte), names and key algorithm, a new key,
// and kubeadm's ten years from now.
import type { KeyObject } from 'node:crypto';
import { Certificate, keyMatchesCertificate } from './certificate.js';
import { selfSignCa } from './issue.js';
import { generatePrivateKey, isSupportedAlgorithm, keyAlgorithmOf } from './keys.js';

export const CA_VALIDITY_MS = 10 * 365 * 86_400_000;
const CA_BACKDATE_MS = 5 * 60_000;

export interface CaPair {
  cert: Certificate;
  key: KeyObject;
}

/**
 * `distinctName`: the old CA has no subject key identifier, or leaves it signed carry no authority key identifier
 * (kubeadm before 1.19, openssl-made trees). Verifiers that pick a CA by name alone (OpenSSL takes the first of a
 * name) would then mistake one CA for the other while a bundle trusts both, so the new one gets a name of its own:
 * the old common name and the date ("etcd-ca-20261204"). Otherwise the subject is kept byte for byte.
 */
export async function successorCa(old: Certificate, o: { now?: Date; distinctName?: boolean } = {}): Promise<CaPair> {
  const now = o.now ?? new Date();
  const algorithm = keyAlgorithmOf(old.publicKey);
  const key = await generatePrivateKey(isSupportedAlgorithm(algorithm) ? algorithm : 'RSA-2048');
  const notBefore = new Date(now.getTime() - CA_BACKDATE_MS);
  const commonName = o.distinctName ? `${old.commonName || 'ca'}-${now.toISOString().slice(0, 10).replace(/-/g, '')}` : old.commonName;
  const cert = await selfSignCa({
    commonName,
    subjectDer: o.distinctName ? undefined : old.subjectDer,
    dnsNames: old.dnsNames,
    key,
    notBefore,
    notAfter: new Date(notBefore.getTime() + CA_VALIDITY_MS),
  });
  return { cert, key };
}

/** Why a CA given by the operator cannot take over from `old`, or undefined. */
export function unfitSuccessor(next: CaPair, old: Certificate, now = new Date()): string | undefined {
  if (!next.cert.isCA) return 'it is not a CA certificate (basicConstraints CA:TRUE)';
  if (!keyMatchesCertificate(next.cert, next.key)) return 'its key does not match the certificate';
  if (next.cert.der.equals(old.der)) return 'it is the CA in use now';
  if (next.cert.spkiDer.equals(old.spkiDer)) return 'it has the same key as the CA in use now: a rotation needs a new key';
  if (next.cert.notAfter.getTime() <= now.getTime() + 86_400_000) return `it expires ${next.cert.notAfter.toISOString()}`;
  if (next.cert.notBefore.getTime() > now.getTime()) return `it is valid only from ${next.cert.notBefore.toISOString()}`;
  return undefined;
}
