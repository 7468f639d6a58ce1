// A minimal DER reader for what reading certificates needs beyond node:crypto's X509Certificate: the raw subject and
// issuer names, the extensions (key usage, basic constraints, key identifiers, SANs, EKU) and their raw values. Reading
// (check, the exporter) never loads an ASN.1 library; issuing does, only when it issues.
import { KpkiError } from '../errors.js';

export interface Tlv {
  tag: number;
  /** Where the whole element starts and its content starts and ends. */
  start: number;
  body: number;
  end: number;
}

export class DerError extends KpkiError {}

export function tlv(der: Buffer, at: number, limit = der.length): Tlv {
  if (at + 2 > limit) throw new DerError('truncated DER');
  const tag = der[at];
  let length = der[at + 1];
  let body = at + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || body + bytes > limit) throw new DerError('bad DER length');
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[body + i];
    body += bytes;
  }
  const end = body + length;
  if (end > limit) throw new DerError('DER element runs past its container');
  return { tag, start: at, body, end };
}

export function children(der: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.body; at < parent.end; ) {
    const child = tlv(der, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

export function oidString(bytes: Buffer): string {
  const parts: number[] = [Math.floor(bytes[0] / 40), bytes[0] % 40];
  let value = 0;
  for (let i = 1; i < bytes.length; i++) {
    value = value * 128 + (bytes[i] & 0x7f);
    if (!(bytes[i] & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/** The object identifiers kpki reads and writes in certificates. */
export const OIDS = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  extKeyUsage: '2.5.29.37',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
};

export interface RawExtension {
  oid: string;
  critical: boolean;
  /** The extnValue OCTET STRING's content (the extension's own DER). */
  value: Buffer;
}

export interface CertificateParts {
  /** The signed part, as signed. */
  tbsDer: Buffer;
  signatureAlgorithm: string;
  signature: Buffer;
  /** The serial's INTEGER content, without the 00 byte DER puts before a high bit (hex, upper case; "-" and the magnitude when negative). */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  subjectDer: Buffer;
  issuerDer: Buffer;
  spkiDer: Buffer;
  extensions: RawExtension[];
}

/** UTCTime (YYMMDDHHMMSSZ, 50-99 are 19xx) or GeneralizedTime (YYYYMMDDHHMMSS[.fff]Z). */
function time(der: Buffer, t: Tlv): Date {
  const text = der.subarray(t.body, t.end).toString('latin1');
  const m =
    t.tag === 0x17
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(text);
  if (!m) throw new DerError(`bad time "${text}"`);
  const year = t.tag === 0x17 ? (Number(m[1]) >= 50 ? 1900 : 2000) + Number(m[1]) : Number(m[1]);
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

/** Everything a certificate says that reading it needs, by position in its DER. */
export function certificateParts(der: Buffer): CertificateParts {
  const [tbs, sigAlg, sigBits] = children(der, tlv(der, 0));
  if (!tbs || !sigAlg || !sigBits) throw new DerError('not a certificate');
  const fields = children(der, tbs);
  let i = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version
  const serial = fields[i];
  const issuer = fields[i + 2]; // (signature between)
  const [notBefore, notAfter] = children(der, fields[i + 3]);
  const subject = fields[i + 4];
  const spki = fields[i + 5];
  const extensions: RawExtension[] = [];
  const wrapper = fields.find((f) => f.tag === 0xa3); // [3] extensions
  if (wrapper) {
    for (const ext of children(der, children(der, wrapper)[0])) {
      const parts = children(der, ext);
      const critical = parts.length === 3 && parts[1].tag === 0x01 && der[parts[1].body] !== 0;
      const value = parts[parts.length - 1];
      extensions.push({ oid: oidString(der.subarray(parts[0].body, parts[0].end)), critical, value: der.subarray(value.body, value.end) });
    }
  }
  if (!issuer || !subject || !spki || !notBefore || !notAfter) throw new DerError('not a certificate');
  let serialBytes = der.subarray(serial.body, serial.end);
  if (serialBytes.length > 1 && serialBytes[0] === 0 && serialBytes[1] >= 0x80) serialBytes = serialBytes.subarray(1);
  const algOid = children(der, sigAlg)[0];
  return {
    tbsDer: der.subarray(tbs.start, tbs.end),
    signatureAlgorithm: oidString(der.subarray(algOid.body, algOid.end)),
    signature: der.subarray(sigBits.body + 1, sigBits.end), // (a BIT STRING: its first byte counts unused bits)
    serial: serialHex(serialBytes),
    notBefore: time(der, notBefore),
    notAfter: time(der, notAfter),
    subjectDer: der.subarray(subject.start, subject.end),
    issuerDer: der.subarray(issuer.start, issuer.end),
    spkiDer: der.subarray(spki.start, spki.end),
    extensions,
  };
}

/**
 * A serial's INTEGER content as hex, as openssl prints it: a negative serial (RFC 5280 forbids them, real CAs made
 * some) is its magnitude after a minus sign, not its two's complement bytes read as a positive number.
 */
function serialHex(bytes: Buffer): string {
  if (bytes.length === 0 || bytes[0] < 0x80) return bytes.toString('hex').toUpperCase();
  const magnitude = (1n << BigInt(8 * bytes.length)) - BigInt(`0x${bytes.toString('hex')}`);
  const hex = magnitude.toString(16).toUpperCase();
  return `-${hex.length % 2 ? `0${hex}` : hex}`;
}

const CURVES: Record<string, string> = { '1.2.840.10045.3.1.7': 'ECDSA-P256', '1.3.132.0.34': 'ECDSA-P384', '1.3.132.0.35': 'ECDSA-P521' };

/** A public key's algorithm in kubeadm's spelling (RSA-2048, ECDSA-P256, ...), from its SubjectPublicKeyInfo. */
export function spkiAlgorithm(spki: Buffer): string {
  const [alg, bits] = children(spki, tlv(spki, 0));
  const [oidTlv, params] = children(spki, alg);
  const oid = oidString(spki.subarray(oidTlv.body, oidTlv.end));
  if (oid === '1.2.840.113549.1.1.1') {
    const key = spki.subarray(bits.body + 1, bits.end); // RSAPublicKey ::= SEQUENCE { modulus, exponent }
    const modulus = children(key, tlv(key, 0))[0];
    let length = modulus.end - modulus.body;
    if (key[modulus.body] === 0) length--;
    return `RSA-${length * 8}`;
  }
  if (oid === '1.2.840.10045.2.1' && params?.tag === 0x06) return CURVES[oidString(spki.subarray(params.body, params.end))] ?? 'ec';
  return { '1.3.101.112': 'ed25519', '1.3.101.113': 'ed448', '1.2.840.10040.4.1': 'dsa' }[oid] ?? oid;
}

const SIGNATURE_HASHES: Record<string, string | null> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null, // Ed25519 signs the message itself
};

/** The hash node:crypto's verify() needs for a signature algorithm; undefined when it is not a simple one (RSA-PSS). */
export function signatureHash(oid: string): string | null | undefined {
  return oid in SIGNATURE_HASHES ? SIGNATURE_HASHES[oid] : undefined;
}

const NAME_KEYS: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'E',
};

function stringValue(der: Buffer, value: Tlv): string {
  const bytes = der.subarray(value.body, value.end);
  if (value.tag === 0x1e) {
    let text = ''; // BMPString: UTF-16BE
    for (let i = 0; i + 1 < bytes.length; i += 2) text += String.fromCharCode(bytes.readUInt16BE(i));
    return text;
  }
  return value.tag === 0x14 ? bytes.toString('latin1') : bytes.toString('utf8');
}

function escape(value: string): string {
  return value
    .replace(/([,+"\\<>;])/g, '\\$1')
    .replace(/^([ #])/, '\\$1')
    .replace(/ $/, '\\ ');
}

/** A Name as "O=system:masters, CN=kubernetes-admin": attributes in the certificate's order. */
export function nameString(nameDer: Buffer): { text: string; attributes: { key: string; value: string }[] } {
  const attributes: { key: string; value: string }[] = [];
  const rdns: string[] = [];
  for (const rdn of children(nameDer, tlv(nameDer, 0))) {
    const parts: string[] = [];
    for (const atv of children(nameDer, rdn)) {
      const [type, value] = children(nameDer, atv);
      const oid = oidString(nameDer.subarray(type.body, type.end));
      const key = NAME_KEYS[oid] ?? oid;
      const text = stringValue(nameDer, value);
      attributes.push({ key, value: text });
      parts.push(`${key}=${escape(text)}`);
    }
    rdns.push(parts.join('+'));
  }
  return { text: rdns.join(', '), attributes };
}

const KEY_USAGES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
];

/** keyUsage's BIT STRING as names. */
export function keyUsages(value: Buffer): string[] {
  const bits = tlv(value, 0);
  const bytes = value.subarray(bits.body + 1, bits.end);
  return KEY_USAGES.filter((_, i) => i < bytes.length * 8 && (bytes[i >> 3] & (0x80 >> (i & 7))) !== 0);
}

/** basicConstraints: CA, and the path length when one is set. */
export function basicConstraints(value: Buffer): { ca: boolean; pathLength?: number } {
  let ca = false;
  let pathLength: number | undefined;
  for (const item of children(value, tlv(value, 0))) {
    if (item.tag === 0x01) ca = value[item.body] !== 0;
    if (item.tag === 0x02) pathLength = value.subarray(item.body, item.end).reduce((n, b) => n * 256 + b, 0);
  }
  return { ca, pathLength };
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

export function extKeyUsages(value: Buffer): string[] {
  return children(value, tlv(value, 0)).map((o) => {
    const oid = oidString(value.subarray(o.body, o.end));
    return EKU_NAMES[oid] ?? oid;
  });
}

/** subjectKeyIdentifier's OCTET STRING, hex. */
export function subjectKeyId(value: Buffer): string {
  const octets = tlv(value, 0);
  return value.subarray(octets.body, octets.end).toString('hex');
}

/** authorityKeyIdentifier's [0] keyIdentifier, hex (undefined when it names the issuer otherwise). */
export function authorityKeyId(value: Buffer): string | undefined {
  const id = children(value, tlv(value, 0)).find((c) => c.tag === 0x80);
  return id ? value.subarray(id.body, id.end).toString('hex') : undefined;
}

function ipString(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i + 1 < bytes.length; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // the longest run of zero groups (two or more) becomes "::", as RFC 5952 writes IPv6 addresses
  let best = { at: -1, length: 0 };
  for (let i = 0; i < groups.length; ) {
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > best.length && j - i > 1) best = { at: i, length: j - i };
    i = j > i ? j : i + 1;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.length).join(':')}`;
}

/** subjectAltName's DNS names and IP addresses. */
export function subjectAltNames(value: Buffer): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const name of children(value, tlv(value, 0))) {
    if (name.tag === 0x82) dnsNames.push(value.subarray(name.body, name.end).toString('latin1'));
    if (name.tag === 0x87) ipAddresses.push(ipString(value.subarray(name.body, name.end)));
  }
  return { dnsNames, ipAddresses };
}
