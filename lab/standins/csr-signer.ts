// The controller-manager's CSR signer, as far as it concerns certificate files: it loads --cluster-signing-cert-file
// and --cluster-signing-key-file at start and refuses anything but exactly one certificate with its key (Kubernetes'
// pkg/controller/certificates/signer: "error reading CA cert file ...: expected 1 certificate, found N"), and it
// watches them: a file that changes to a bundle stops the signing, logged. The stand-in signs no CSRs.
import { readFileSync } from 'node:fs';
import { keyMatchesCertificate, parseCertificates } from '../../src/pki/certificate.js';
import { parsePrivateKey } from '../../src/pki/keys.js';

/** Why the signer cannot load its CA (undefined when it can). */
export function signerProblem(certFile: string, keyFile: string): string | undefined {
  try {
    const certs = parseCertificates(readFileSync(certFile));
    if (certs.length !== 1) return `error reading CA cert file "${certFile}": expected 1 certificate, found ${certs.length}`;
    if (!keyMatchesCertificate(certs[0], parsePrivateKey(readFileSync(keyFile))))
      return `error reading CA key file "${keyFile}": tls: private key does not match public key`;
    return undefined;
  } catch (err) {
    return `error reading CA cert file "${certFile}": ${(err as Error).message}`;
  }
}
