// Reading X.509 certificates into plain data (no I/O). Verification uses the native OpenSSL binding.
import { createHash, X509Certificate as NativeCertificate, KeyObject } from 'node:crypto';
import { x509 } from './provider.js';
import { CERT_TYPE, parsePem, toArrayBuffer } from './pem.js';
import { keyAlgorithmOf } from './keys.js';

export class CertFormatError extends Error {}

export interface Certificate {
  der: Buffer;
  native: NativeCertificate;
  parsed: x509.X509Certificate;
  subject: string;
  commonName: string;
  organizations: string[];
  issuer: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  ipAddresses: string[];
  extKeyUsages: string[];
  keyUsages: string[];
  isCA: boolean;
  /** basicConstraints pathLenConstraint: how many intermediates may follow this CA (undefined: no limit). */
  pathLength?: number;
  keyAlgorithm: string;
  /** sha256 of the DER SubjectPublicKeyInfo, hex: identifies a key pair across files. */
  spkiSha256: string;
  subjectKeyId?: string;
  authorityKeyId?: string;
  selfSigned: boolean;
}

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'any',
};

const KU_FLAGS: [number, string][] = [
  [x509.KeyUsageFlags.digitalSignature, 'digitalSignature'],
  [x509.KeyUsageFlags.nonRepudiation, 'nonRepudiation'],
  [x509.KeyUsageFlags.keyEncipherment, 'keyEncipherment'],
  [x509.KeyUsageFlags.dataEncipherment, 'dataEncipherment'],
  [x509.KeyUsageFlags.keyAgreement, 'keyAgreement'],
  [x509.KeyUsageFlags.keyCertSign, 'keyCertSign'],
  [x509.KeyUsageFlags.cRLSign, 'cRLSign'],
];

/** All certificates of a PEM text, in order. */
export function parseCertificates(pem: string | Buffer): Certificate[] {
  return parsePem(pem)
    .filter((b) => b.type === CERT_TYPE)
    .map((b) => certificateFromDer(b.der));
}

/** Every certificate of a PEM text, leaf first; throws CertFormatError when there is none or one is corrupt. */
export function parseCertificateChain(pem: string | Buffer): Certificate[] {
  const certs = parseCertificates(pem);
  if (certs.length === 0) throw new CertFormatError('no PEM certificate found');
  return certs;
}

/** The first certificate of a PEM text; throws CertFormatError when there is none or it is corrupt. */
export function parseCertificate(pem: string | Buffer): Certificate {
  const blocks = parsePem(pem).filter((b) => b.type === CERT_TYPE);
  if (blocks.length === 0) throw new CertFormatError('no PEM certificate found');
  return certificateFromDer(blocks[0].der);
}

export function certificateFromDer(der: Buffer): Certificate {
  let native: NativeCertificate;
  let parsed: x509.X509Certificate;
  try {
    native = new NativeCertificate(der);
    parsed = new x509.X509Certificate(toArrayBuffer(der));
  } catch (err) {
    throw new CertFormatError(`corrupt certificate: ${(err as Error).message}`);
  }
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  const eku = parsed.getExtension(x509.ExtendedKeyUsageExtension);
  const ku = parsed.getExtension(x509.KeyUsagesExtension);
  const bc = parsed.getExtension(x509.BasicConstraintsExtension);
  const ski = parsed.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = parsed.getExtension(x509.AuthorityKeyIdentifierExtension);
  const sanItems = san?.names.items ?? [];
  const spki = native.publicKey.export({ format: 'der', type: 'spki' });
  return {
    der,
    native,
    parsed,
    subject: parsed.subject,
    commonName: parsed.subjectName.getField('CN')[0] ?? '',
    organizations: parsed.subjectName.getField('O'),
    issuer: parsed.issuer,
    serial: parsed.serialNumber.toUpperCase(),
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
    dnsNames: sanItems.filter((n) => n.type === 'dns').map((n) => n.value),
    ipAddresses: sanItems.filter((n) => n.type === 'ip').map((n) => n.value),
    extKeyUsages: Array.from(eku?.usages ?? [], (u) => EKU_NAMES[String(u)] ?? String(u)),
    keyUsages: ku ? KU_FLAGS.filter(([flag]) => (ku.usages & flag) !== 0).map(([, name]) => name) : [],
    isCA: bc?.ca ?? false,
    pathLength: bc?.ca && typeof bc.pathLength === 'number' ? bc.pathLength : undefined,
    keyAlgorithm: keyAlgorithmOf(native.publicKey),
    spkiSha256: createHash('sha256').update(spki).digest('hex'),
    subjectKeyId: ski?.keyId,
    authorityKeyId: aki?.keyId,
    selfSigned: parsed.subject === parsed.issuer && safeVerify(native, native.publicKey),
  };
}

function safeVerify(cert: NativeCertificate, key: KeyObject): boolean {
  try {
    return cert.verify(key);
  } catch {
    return false;
  }
}

/** True when `issuerCert`'s key made the signature on `cert` (the only trustworthy test: names are shared across CAs). */
export function isSignedBy(cert: Certificate, issuerCert: Certificate): boolean {
  return safeVerify(cert.native, issuerCert.native.publicKey);
}

/** True when the private key belongs to the certificate. */
export function keyMatchesCertificate(cert: Certificate, key: KeyObject): boolean {
  try {
    return cert.native.checkPrivateKey(key);
  } catch {
    return false;
  }
}

export function certificateToPem(cert: Certificate): string {
  return cert.native.toString();
}
