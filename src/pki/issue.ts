// Issuing certificates: leaves signed by a CA (renewal copies the old certificate's identity), self-signed CAs.
import { createPublicKey, KeyObject, randomBytes } from 'node:crypto';
import { subtle, x509 } from './provider.js';
import { Certificate, certificateFromDer } from './certificate.js';
import { toArrayBuffer } from './pem.js';

const OID = {
  subjectAltName: '2.5.29.17',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
};

/** A random positive serial of at most 63 bits, as kubeadm makes, hex without redundant leading zero bytes. */
export function randomSerial(): string {
  const bytes = randomBytes(8);
  bytes[0] &= 0x7f;
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0 && bytes[start + 1] < 0x80) start++;
  const hex = bytes.subarray(start).toString('hex');
  return /^0+$/.test(hex) ? '01' : hex;
}

interface SigningParams {
  algorithm: RsaHashedImportParams | EcKeyImportParams;
  signing: Algorithm | EcdsaParams;
}

export function signingParamsFor(key: KeyObject): SigningParams {
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

async function toSigningKey(key: KeyObject): Promise<{ cryptoKey: CryptoKey; signing: Algorithm | EcdsaParams }> {
  const { algorithm, signing } = signingParamsFor(key);
  const der = key.export({ format: 'der', type: 'pkcs8' });
  const cryptoKey = await subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
  return { cryptoKey, signing };
}

function spkiOf(key: KeyObject): ArrayBuffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return toArrayBuffer(pub.export({ format: 'der', type: 'spki' }));
}

export interface IssueParams {
  /** Subject: raw DER (copied from an old certificate) or a DN string such as "CN=x, O=y". */
  subject: Buffer | string;
  extensions: x509.Extension[];
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  serial?: string;
  /** selfSigned: cert is the old self-signed certificate whose subject is reused as issuer; no AKI. */
  signer: { cert: Certificate; key: KeyObject; selfSigned?: boolean };
}

/** Signs a leaf. The issuer field is the CA's subject byte for byte, so Go's chain building finds the CA. */
export async function issueCertificate(params: IssueParams): Promise<Certificate> {
  const { cryptoKey, signing } = await toSigningKey(params.signer.key);
  const extensions = [...params.extensions];
  const caKeyId = params.signer.cert.subjectKeyId;
  if (caKeyId && !params.signer.selfSigned) extensions.push(new x509.AuthorityKeyIdentifierExtension(caKeyId));
  const cert = await x509.X509CertificateGenerator.create({
    subject: toName(params.subject),
    issuer: new x509.Name(toArrayBuffer(params.signer.cert.subjectDer)),
    serialNumber: params.serial ?? randomSerial(),
    notBefore: params.notBefore,
    notAfter: params.notAfter,
    publicKey: spkiOf(params.publicKey),
    signingKey: cryptoKey,
    signingAlgorithm: signing,
    extensions,
  });
  return withExactIssuer(certificateFromDer(Buffer.from(cert.rawData)), params.signer.cert);
}

function toName(subject: Buffer | string): x509.Name {
  return typeof subject === 'string' ? new x509.Name(subject) : new x509.Name(toArrayBuffer(subject));
}

/** Guards the invariant that matters to Go clients: issuer DER == CA subject DER. */
function withExactIssuer(cert: Certificate, ca: Certificate): Certificate {
  if (!cert.issuerDer.equals(ca.subjectDer)) {
    throw new Error(`issued certificate's issuer "${cert.issuer}" is not byte-identical to the CA subject "${ca.subject}"`);
  }
  return cert;
}

/** The extensions kubeadm's renewal carries over from an existing certificate (SANs, usages, constraints). */
export function extensionsToCopy(old: Certificate): x509.Extension[] {
  const keep = new Set([OID.subjectAltName, OID.keyUsage, OID.extKeyUsage, OID.basicConstraints]);
  // (the subject key identifier is not copied: a new key gets none, as kubeadm's leaves have none)
  return old.extensions
    .filter((ext) => keep.has(ext.oid))
    .map((ext) => new x509.Extension(ext.oid, ext.critical, toArrayBuffer(ext.value)));
}

export interface LeafSpec {
  commonName: string;
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  extKeyUsages: ('serverAuth' | 'clientAuth')[];
}

/** Extensions of a kubeadm leaf built from a spec (used by the lab to make trees like kubeadm's). */
export function leafExtensions(spec: LeafSpec): x509.Extension[] {
  const ekuOids = spec.extKeyUsages.map((u) => (u === 'serverAuth' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth));
  const extensions: x509.Extension[] = [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(ekuOids, false),
    new x509.BasicConstraintsExtension(false, undefined, true),
  ];
  const names = [
    ...(spec.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(spec.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  return extensions;
}

/** Go's pkix.Name order: O before CN. */
export function distinguishedName(commonName: string, organizations: string[] = []): string {
  return [...organizations.map((o) => `O=${escapeDn(o)}`), `CN=${escapeDn(commonName)}`].join(', ');
}

function escapeDn(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, '\\$1');
}

export interface CaSpec {
  commonName: string;
  dnsNames?: string[];
  key: KeyObject;
  notBefore: Date;
  notAfter: Date;
  serial?: string;
}

/** A self-signed CA as kubeadm makes it (keyCertSign, CA:TRUE, SKI). */
export async function selfSignCa(spec: CaSpec): Promise<Certificate> {
  const { cryptoKey, signing } = await toSigningKey(spec.key);
  const spki = spkiOf(spec.key);
  const extensions: x509.Extension[] = [
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.keyCertSign,
      true,
    ),
    new x509.BasicConstraintsExtension(true, undefined, true),
    await x509.SubjectKeyIdentifierExtension.create(spki),
  ];
  if (spec.dnsNames?.length) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        spec.dnsNames.map((value) => ({ type: 'dns' as const, value })),
        false,
      ),
    );
  }
  const name = distinguishedName(spec.commonName);
  const cert = await x509.X509CertificateGenerator.create({
    subject: name,
    issuer: name,
    serialNumber: spec.serial ?? randomSerial(),
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    publicKey: spki,
    signingKey: cryptoKey,
    signingAlgorithm: signing,
    extensions,
  });
  return certificateFromDer(Buffer.from(cert.rawData));
}

export interface ThrowawayCaParams {
  /** The host the kubelet named its certificate after (the part of the old CN before "@"). */
  host: string;
  unixTime: number;
  key: KeyObject;
  caKey: KeyObject;
  /** The leaf's extensions (copied from the old leaf: SANs, usages). */
  extensions: x509.Extension[];
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
export function withoutSubjectAltName(extensions: x509.Extension[], value: string): x509.Extension[] {
  return extensions.map((ext) => {
    if (ext.type !== OID.subjectAltName) return ext;
    const names = new x509.SubjectAlternativeNameExtension(ext.rawData).names.toJSON().filter((n) => n.value !== value);
    return new x509.SubjectAlternativeNameExtension(names, ext.critical);
  });
}

/** The extensions with the SANs replaced by these names (a certificate whose names change keeps everything else). */
export function withSubjectAltNames(extensions: x509.Extension[], names: { dnsNames: string[]; ipAddresses: string[] }): x509.Extension[] {
  const san = new x509.SubjectAlternativeNameExtension(
    [
      ...names.dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...names.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ],
    extensions.find((e) => e.type === OID.subjectAltName)?.critical ?? false,
  );
  const others = extensions.filter((e) => e.type !== OID.subjectAltName);
  return [...others, san];
}
