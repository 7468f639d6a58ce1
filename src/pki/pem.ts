// PEM framing: split a file into typed blocks and write blocks back.

export interface PemBlock {
  type: string;
  der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

export function parsePem(text: string | Buffer): PemBlock[] {
  const source = typeof text === 'string' ? text : text.toString('latin1');
  const blocks: PemBlock[] = [];
  for (const match of source.matchAll(BLOCK)) {
    const body = match[2].replace(/[\r\n\t ]/g, '');
    if (!/^[A-Za-z0-9+/=]*$/.test(body)) continue;
    blocks.push({ type: match[1], der: Buffer.from(body, 'base64') });
  }
  return blocks;
}

export function toPem(type: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join('\n')}\n-----END ${type}-----\n`;
}

export const CERT_TYPE = 'CERTIFICATE';

export function isPrivateKeyType(type: string): boolean {
  return type === 'PRIVATE KEY' || type === 'RSA PRIVATE KEY' || type === 'EC PRIVATE KEY';
}

/** A standalone ArrayBuffer copy of bytes (WebCrypto-style APIs reject Node's pooled Buffers in their types). */
export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return new Uint8Array(bytes).buffer;
}
