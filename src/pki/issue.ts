// Issuing certificates: leaves signed by a CA (renewal copies the old certificate's identity), self-signed CAs. The
// certificate is written with kpki's small DER writer and signed with node:crypto: no ASN.1 library is loaded.
import { createHash, createPublicKey, KeyObject, randomBytes, sign } from 'node:crypto';
import { Certificate, certificateFromDer } from './certificate.js';
import { OIDS, RawExtension, subjectAltNames } from './der.js';
import {
  bitString,
  explicit,
  generalNames,
  integerFromHex,
  keyUsageBits,
  name,
  NULL,
  objectId,
  octetString,
  sequence,
  time,
  TRUE,
  tlv,
} from './der-write.js';

export type { RawExtension };

/** A random positive serial of at most 63 bits, as kubeadm makes, hex without redundant leading zero bytes. */
export function randomSerial(): string {
  const bytes = randomBytes(8);
  bytes[0] &= 0x7f;
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0 && bytes[start + 1] < 0x80) start++;
  const hex = bytes.subarray(start).toString('hex');
  return /^0+$/.test(hex) ? '01' : hex;
}

/** The signature algorithm Go picks for the CA's key: SHA-256 with RSA, ECDSA with the curve's hash. */
function signatureAlgorithm(key: KeyObject): { der: Buffer; hash: string } {
  if (key.asymmetricKeyType === 'rsa') return { der: sequence(objectId('1.2.840.113549.1.1.11'), NULL), hash: 'sha256' };
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const [oid, hash] =
      curve === 'secp384r1'
        ? ['1.2.840.10045.4.3.3', 'sha384']
        : curve === 'secp521r1'
          ? ['1.2.840.10045.4.3.4', 'sha512']
          : ['1.2.840.10045.4.3.2', 'sha256'];
    return { der: sequence(objectId(oid)), hash };
  }
  throw new Error(`unsupported signing key type ${key.asymmetricKeyType}`);
}

function spkiOf(key: KeyObject): Buffer {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' });
}

function encodeExtension(e: RawExtension): Buffer {
  return sequence(objectId(e.oid), ...(e.critical ? [TRUE] : []), octetString(e.value));
}

/** The subject key identifier Go writes: SHA-1 of the subjectPublicKey bits (RFC 5280, method 1). */
function keyIdOf(spki: Buffer): Buffer {
  return createHash('sha1').update(subjectPublicKeyBits(spki)).digest();
}

/** SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }: the key's bits. */
function subjectPublicKeyBits(spki: Buffer): Buffer {
  let at = 1;
  const readLength = (): number => {
    let length = spki[at++];
    if (length & 0x80) {
      const n = length & 0x7f;
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + spki[at++];
    }
    return length;
  };
  readLength(); // the outer SEQUENCE
  at++; // the AlgorithmIdentifier's tag
  const algorithm = readLength(); // (read before adding: readLength moves `at` past the length bytes)
  at += algorithm; // and its content
  at++; // the BIT STRING's tag
  const length = readLength();
  return spki.subarray(at + 1, at + length); // without the unused-bits byte
}

interface Signed {
  subject: Buffer;
  issuer: Buffer;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  extensions: RawExtension[];
  key: KeyObject;
}

function signCertificate(s: Signed): Certificate {
  const algorithm = signatureAlgorithm(s.key);
  const tbs = sequence(
    explicit(0, tlv(0x02, Buffer.from([2]))),
    integerFromHex(s.serial),
    algorithm.der,
    s.issuer,
    sequence(time(s.notBefore), time(s.notAfter)),
    s.subject,
    s.spki,
    ...(s.extensions.length ? [explicit(3, sequence(...s.extensions.map(encodeExtension)))] : []),
  );
  const signature = sign(algorithm.hash, tbs, s.key);
  return certificateFromDer(sequence(tbs, algorithm.der, bitString(signature)));
}

export interface IssueParams {
  /** Subject: raw DER (copied from an old certificate, or made by distinguishedName). */
  subject: Buffer;
  extensions: RawExtension[];
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  serial?: string;
  /** selfSigned: cert is the old self-signed certificate whose subject is reused as issuer; no AKI. */
  signer: { cert: Certificate; key: KeyObject; selfSigned?: boolean };
}

/** Signs a leaf. The issuer field is the CA's subject byte for byte, so Go's chain building finds the CA. */
export async function issueCertificate(params: IssueParams): Promise<Certificate> {
  const extensions = [...params.extensions];
  const caKeyId = params.signer.cert.subjectKeyId;
  if (caKeyId && !params.signer.selfSigned)
    extensions.push({ oid: OIDS.authorityKeyId, critical: false, value: sequence(tlv(0x80, Buffer.from(caKeyId, 'hex'))) });
  return signCertificate({
    subject: params.subject,
    issuer: params.signer.cert.subjectDer,
    serial: params.serial ?? randomSerial(),
    notBefore: params.notBefore,
    notAfter: params.notAfter,
    spki: spkiOf(params.publicKey),
    extensions,
    key: params.signer.key,
  });
}

/** The extensions kubeadm's renewal carries over from an existing certificate (SANs, usages, constraints). */
export function extensionsToCopy(old: Certificate): RawExtension[] {
  const keep = new Set([OIDS.subjectAltName, OIDS.keyUsage, OIDS.extKeyUsage, OIDS.basicConstraints]);
  // (the subject key identifier is not copied: a new key gets none, as kubeadm's leaves have none)
  return old.extensions.filter((ext) => keep.has(ext.oid)).map((ext) => ({ ...ext }));
}

export interface LeafSpec {
  commonName: string;
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  extKeyUsages: ('serverAuth' | 'clientAuth')[];
}

const DIGITAL_SIGNATURE = 0;
const KEY_ENCIPHERMENT = 2;
const KEY_CERT_SIGN = 5;

/** Extensions of a kubeadm leaf built from a spec (used by the lab to make trees like kubeadm's). */
export function leafExtensions(spec: LeafSpec): RawExtension[] {
  const extensions: RawExtension[] = [
    { oid: OIDS.keyUsage, critical: true, value: keyUsageBits([DIGITAL_SIGNATURE, KEY_ENCIPHERMENT]) },
    { oid: OIDS.extKeyUsage, critical: false, value: sequence(...spec.extKeyUsages.map((u) => objectId(OIDS[u]))) },
    { oid: OIDS.basicConstraints, critical: true, value: sequence() },
  ];
  if (spec.dnsNames?.length || spec.ipAddresses?.length)
    extensions.push({ oid: OIDS.subjectAltName, critical: false, value: generalNames(spec.dnsNames ?? [], spec.ipAddresses ?? []) });
  return extensions;
}

/** A subject as Go's pkix.Name writes it: O before CN. */
export function distinguishedName(commonName: string, organizations: string[] = []): Buffer {
  return name([...organizations.map((value) => ({ oid: OIDS.organization, value })), { oid: OIDS.commonName, value: commonName }]);
}

export interface CaSpec {
  commonName: string;
  /** The subject as DER, byte for byte (a successor CA keeps its predecessor's); else made from commonName. */
  subjectDer?: Buffer;
  dnsNames?: string[];
  key: KeyObject;
  notBefore: Date;
  notAfter: Date;
  serial?: string;
}

/** A self-signed CA as kubeadm makes it (keyCertSign, CA:TRUE, SKI). */
export async function selfSignCa(spec: CaSpec): Promise<Certificate> {
  const spki = spkiOf(spec.key);
  const extensions: RawExtension[] = [
    { oid: OIDS.keyUsage, critical: true, value: keyUsageBits([DIGITAL_SIGNATURE, KEY_ENCIPHERMENT, KEY_CERT_SIGN]) },
    { oid: OIDS.basicConstraints, critical: true, value: sequence(TRUE) },
    { oid: OIDS.subjectKeyId, critical: false, value: octetString(keyIdOf(spki)) },
  ];
  if (spec.dnsNames?.length) extensions.push({ oid: OIDS.subjectAltName, critical: false, value: generalNames(spec.dnsNames, []) });
  const subject = spec.subjectDer ?? distinguishedName(spec.commonName);
  return signCertificate({
    subject,
    issuer: subject,
    serial: spec.serial ?? randomSerial(),
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    spki,
    extensions,
    key: spec.key,
  });
}

export interface ThrowawayCaParams {
  /** The host the kubelet named its certificate after (the part of the old CN before "@"). */
  host: string;
  unixTime: number;
  key: KeyObject;
  caKey: KeyObject;
  /** The leaf's extensions (copied from the old leaf: SANs, usages). */
  extensions: RawExtension[];
  notBefore: Date;
  notAfter: Date;
}

/**
 * client-go's GenerateSelfSignedCertKey, which the kubelet uses for kubelet.crt: a throwaway CA "<host>-ca@<unix>"
 * (serial 1) signs the leaf "<host>@<unix>" (serial 2). The caller writes both into one file, leaf first, and
 * forgets the CA key.
 */
export async function issueWithThrowawayCa(p: ThrowawayCaParams): Promise<{ leaf: Certificate; ca: Certificate }> {
  const ca = await selfSignCa({
    commonName: `${p.host}-ca@${p.unixTime}`,
    key: p.caKey,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    serial: '01',
  });
  const leaf = await issueCertificate({
    subject: distinguishedName(`${p.host}@${p.unixTime}`),
    extensions: p.extensions,
    publicKey: p.key,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    serial: '02',
    signer: { cert: ca, key: p.caKey },
  });
  return { leaf, ca };
}

/** The extensions with one DNS name or IP address removed from the SANs (a test hook uses it to make a bad renewal). */
export function withoutSubjectAltName(extensions: RawExtension[], value: string): RawExtension[] {
  const san = extensions.find((e) => e.oid === OIDS.subjectAltName);
  if (!san) return extensions;
  const names = subjectAltNames(san.value);
  return withSubjectAltNames(extensions, {
    dnsNames: names.dnsNames.filter((n) => n !== value),
    ipAddresses: names.ipAddresses.filter((n) => n !== value),
  });
}

/** The extensions with the SANs replaced by these names (a certificate whose names change keeps everything else). */
export function withSubjectAltNames(extensions: RawExtension[], names: { dnsNames: string[]; ipAddresses: string[] }): RawExtension[] {
  const critical = extensions.find((e) => e.oid === OIDS.subjectAltName)?.critical ?? false;
  const others = extensions.filter((e) => e.oid !== OIDS.subjectAltName);
  return [...others, { oid: OIDS.subjectAltName, critical, value: generalNames(names.dnsNames, names.ipAddresses) }];
}
