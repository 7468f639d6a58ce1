// Reading X.509 certificates into plain data (no I/O), from their DER (der.ts): names, dates, extensions, the key's
// algorithm. Signatures are checked with node:crypto's verify() over the signed part; node's X509Certificate and the
// public KeyObject are made only when something asks for them. No ASN.1 library is loaded to read.
import { KpkiError } from '../errors.js';
import { createHash, createPublicKey, verify, X509Certificate as NativeCertificate, KeyObject } from 'node:crypto';
import { CERT_TYPE, parsePem, toPem } from './pem.js';
import {
  authorityKeyId,
  basicConstraints,
  certificateParts,
  CertificateParts,
  extKeyUsages,
  keyUsages,
  nameString,
  OIDS,
  RawExtension,
  signatureHash,
  spkiAlgorithm,
  subjectAltNames,
  subjectKeyId,
} from './der.js';

export class CertFormatError extends KpkiError {}

export interface Certificate {
  der: Buffer;
  /** node's own X509Certificate (made on first use). */
  readonly native: NativeCertificate;
  /** The public key (made on first use). */
  readonly publicKey: KeyObject;
  /** The subject and issuer Names as DER, byte for byte (a leaf's issuer must equal its CA's subject). */
  subjectDer: Buffer;
  issuerDer: Buffer;
  spkiDer: Buffer;
  /** Every extension as it is encoded (renewal copies them). */
  extensions: RawExtension[];
  subject: string;
  subjectAttributes: { key: string; value: string }[];
  issuerAttributes: { key: string; value: string }[];
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
  let parts: CertificateParts;
  try {
    parts = certificateParts(der);
  } catch (err) {
    throw new CertFormatError(`corrupt certificate: ${(err as Error).message}`);
  }
  const read = <T>(oid: string, parse: (value: Buffer) => T): T | undefined => {
    const value = parts.extensions.find((e) => e.oid === oid)?.value;
    try {
      return value ? parse(value) : undefined;
    } catch (err) {
      throw new CertFormatError(`corrupt certificate: extension ${oid}: ${(err as Error).message}`);
    }
  };
  let subject: ReturnType<typeof nameString>;
  let issuer: ReturnType<typeof nameString>;
  let keyAlgorithm: string;
  try {
    subject = nameString(parts.subjectDer);
    issuer = nameString(parts.issuerDer);
    keyAlgorithm = spkiAlgorithm(parts.spkiDer);
  } catch (err) {
    throw new CertFormatError(`corrupt certificate: ${(err as Error).message}`);
  }
  const bc = read(OIDS.basicConstraints, basicConstraints);
  const san = read(OIDS.subjectAltName, subjectAltNames);
  let native: NativeCertificate | undefined;
  let publicKey: KeyObject | undefined;
  let selfSigned: boolean | undefined;
  const cert: Certificate & { parts: CertificateParts } = {
    der,
    parts,
    get native() {
      return (native ??= new NativeCertificate(der));
    },
    get publicKey() {
      return (publicKey ??= createPublicKey({ key: parts.spkiDer, format: 'der', type: 'spki' }));
    },
    subjectDer: parts.subjectDer,
    issuerDer: parts.issuerDer,
    spkiDer: parts.spkiDer,
    extensions: parts.extensions,
    subject: subject.text,
    subjectAttributes: subject.attributes,
    issuerAttributes: issuer.attributes,
    commonName: subject.attributes.find((a) => a.key === 'CN')?.value ?? '',
    organizations: subject.attributes.filter((a) => a.key === 'O').map((a) => a.value),
    issuer: issuer.text,
    serial: parts.serial,
    notBefore: parts.notBefore,
    notAfter: parts.notAfter,
    dnsNames: san?.dnsNames ?? [],
    ipAddresses: san?.ipAddresses ?? [],
    extKeyUsages: read(OIDS.extKeyUsage, extKeyUsages) ?? [],
    keyUsages: read(OIDS.keyUsage, keyUsages) ?? [],
    isCA: bc?.ca ?? false,
    pathLength: bc?.ca ? bc.pathLength : undefined,
    keyAlgorithm,
    spkiSha256: createHash('sha256').update(parts.spkiDer).digest('hex'),
    subjectKeyId: read(OIDS.subjectKeyId, subjectKeyId),
    authorityKeyId: read(OIDS.authorityKeyId, authorityKeyId),
    // (a signature check, made when asked: a file may hold thousands of certificates nobody asks about)
    get selfSigned() {
      return (selfSigned ??= parts.subjectDer.equals(parts.issuerDer) && isSignedBy(cert, cert));
    },
  };
  return cert;
}

/** True when `issuerCert`'s key made the signature on `cert` (the only trustworthy test: names are shared across CAs). */
export function isSignedBy(cert: Certificate, issuerCert: Certificate): boolean {
  const parts = (cert as Certificate & { parts?: CertificateParts }).parts ?? certificateParts(cert.der);
  const hash = signatureHash(parts.signatureAlgorithm);
  try {
    // a signature scheme verify() cannot be told (RSA-PSS with its parameters): OpenSSL's own X509_verify decides
    if (hash === undefined) return cert.native.verify(issuerCert.publicKey);
    return verify(hash, parts.tbsDer, issuerCert.publicKey, parts.signature);
  } catch {
    return false;
  }
}

/** True when the private key belongs to the certificate. */
export function keyMatchesCertificate(cert: Certificate, key: KeyObject): boolean {
  try {
    const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
    return spki.equals(cert.spkiDer) || cert.native.checkPrivateKey(key);
  } catch {
    return false;
  }
}

export function certificateToPem(cert: Certificate): string {
  return toPem(CERT_TYPE, cert.der);
}
