// A minimal DER writer: what signing a certificate needs (its fields, names, kubeadm's extensions), so that issuing
// never loads an ASN.1 library (loading one cost a renewal a tenth of a second). Encodings follow Go's crypto/x509,
// which kubeadm uses: strings of a name are PrintableString when they can be, else UTF8String; times are UTCTime for
// 1950-2049, else GeneralizedTime.
import { createRequire } from 'node:module';

// node:net (for isIP) loads the first time an address is written, once: `kpki check` reads certificates and never
// writes one (with node:child_process and node:readline, also loaded when used, this saved check about 0.2 MB).
let net: typeof import('node:net') | undefined;
const isIP = (address: string): number => (net ??= createRequire(import.meta.url)('node:net') as typeof import('node:net')).isIP(address);

export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const length: number[] = [];
  if (body.length < 0x80) length.push(body.length);
  else {
    for (let n = body.length; n > 0; n = Math.floor(n / 256)) length.unshift(n & 0xff);
    length.unshift(0x80 | length.length);
  }
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}

export const sequence = (...content: Buffer[]) => tlv(0x30, ...content);
export const set = (...content: Buffer[]) => tlv(0x31, ...content);
export const octetString = (bytes: Buffer) => tlv(0x04, bytes);
/** A BIT STRING of whole bytes (signatures, public keys). */
export const bitString = (bytes: Buffer) => tlv(0x03, Buffer.from([0]), bytes);
export const explicit = (n: number, ...content: Buffer[]) => tlv(0xa0 | n, ...content);
export const NULL = Buffer.from([0x05, 0x00]);
export const TRUE = Buffer.from([0x01, 0x01, 0xff]);

export function objectId(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes = [40 * parts[0] + parts[1]];
  for (const value of parts.slice(2)) {
    const group = [value & 0x7f];
    for (let n = Math.floor(value / 128); n > 0; n = Math.floor(n / 128)) group.unshift((n & 0x7f) | 0x80);
    bytes.push(...group);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** A non-negative INTEGER from hex (a serial), minimal, with the 00 byte DER needs before a high bit. */
export function integerFromHex(hex: string): Buffer {
  let bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  while (bytes.length > 1 && bytes[0] === 0 && bytes[1] < 0x80) bytes = bytes.subarray(1);
  if (bytes.length === 0) bytes = Buffer.from([0]);
  return tlv(0x02, bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

export function time(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const two = (n: number) => String(n).padStart(2, '0');
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  return year >= 1950 && year < 2050
    ? tlv(0x17, Buffer.from(`${two(year % 100)}${rest}`, 'latin1'))
    : tlv(0x18, Buffer.from(`${String(year).padStart(4, '0')}${rest}`, 'latin1'));
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** A Name from its attributes in order (Go's pkix.Name puts O before CN): one attribute per RDN, as Go writes. */
export function name(attributes: { oid: string; value: string }[]): Buffer {
  return sequence(
    ...attributes.map((a) => set(sequence(objectId(a.oid), tlv(PRINTABLE.test(a.value) ? 0x13 : 0x0c, Buffer.from(a.value, 'utf8'))))),
  );
}

/** An IP address as the 4 or 16 bytes a SAN holds. */
export function ipBytes(address: string): Buffer {
  if (isIP(address) === 4) return Buffer.from(address.split('.').map(Number));
  if (isIP(address) !== 6) throw new Error(`not an IP address: ${address}`);
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1].split('.').map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

/** subjectAltName's value: DNS names first, then IP addresses (the order kubeadm writes them). */
export function generalNames(dnsNames: string[], ipAddresses: string[]): Buffer {
  return sequence(...dnsNames.map((n) => tlv(0x82, Buffer.from(n, 'latin1'))), ...ipAddresses.map((ip) => tlv(0x87, ipBytes(ip))));
}

/** keyUsage's value from bit numbers (0 digitalSignature, 2 keyEncipherment, 5 keyCertSign), minimal as DER wants. */
export function keyUsageBits(bits: number[]): Buffer {
  const value = bits.reduce((v, bit) => v | (0x8000 >> bit), 0);
  const bytes = value & 0xff ? [value >> 8, value & 0xff] : [value >> 8];
  const last = bytes[bytes.length - 1];
  let unused = 0;
  while (unused < 7 && !(last & (1 << unused))) unused++;
  return tlv(0x03, Buffer.from([unused, ...bytes]));
}
