// Certificate signing requests for an external CA: the subject and SANs of the certificate they replace, signed
// with the new key (which never leaves the node it was made for).
import { createPublicKey, KeyObject } from 'node:crypto';
import type { Certificate } from './certificate.js';
import { toArrayBuffer } from './pem.js';
import { subtle, x509 } from './provider.js';

const SUBJECT_ALT_NAME = '2.5.29.17';

/** WebCrypto's names for the key and the signature Go would use with it. */
function signingParamsFor(key: KeyObject): { algorithm: RsaHashedImportParams | EcKeyImportParams; signing: Algorithm | EcdsaParams } {
  if (key.asymmetricKeyType === 'rsa') {
    const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    return { algorithm, signing: algorithm };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === 'secp384r1' ? 'P-384' : curve === 'secp521r1' ? 'P-521' : 'P-256';
    const hash = namedCurve === 'P-256' ? 'SHA-256' : namedCurve === 'P-384' ? 'SHA-384' : 'SHA-512';
    return { algorithm: { name: 'ECDSA', namedCurve }, signing: { name: 'ECDSA', hash } as EcdsaParams };
  }
  throw new Error(`unsupported signing key type ${key.asymmetricKeyType}`);
}

/** A PKCS#10 request with `old`'s subject (byte for byte) and its SANs, signed by `key`. */
export async function requestFor(old: Certificate, key: KeyObject): Promise<string> {
  const { algorithm, signing } = signingParamsFor(key);
  const privateKey = await subtle.importKey('pkcs8', key.export({ format: 'der', type: 'pkcs8' }), algorithm, false, ['sign']);
  const publicKey = await subtle.importKey('spki', createPublicKey(key).export({ format: 'der', type: 'spki' }), algorithm, true, [
    'verify',
  ]);
  const extensions = old.extensions
    .filter((e) => e.oid === SUBJECT_ALT_NAME)
    .map((e) => new x509.Extension(e.oid, e.critical, toArrayBuffer(e.value)));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: new x509.Name(toArrayBuffer(old.subjectDer)),
    keys: { privateKey, publicKey },
    signingAlgorithm: signing,
    extensions,
  });
  return csr.toString('pem');
}
