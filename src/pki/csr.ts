// Certificate signing requests for an external CA: the subject and SANs of the certificate they replace, signed
// with the new key (which never leaves the node it was made for).
import { createPublicKey, KeyObject } from 'node:crypto';
import type { Certificate } from './certificate.js';
import { signingParamsFor } from './issue.js';
import { toArrayBuffer } from './pem.js';
import { subtle, x509 } from './provider.js';

const SUBJECT_ALT_NAME = '2.5.29.17';

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
