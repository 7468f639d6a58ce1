// PEM framing: split a file into typed blocks and write blocks back.

export interface PemBlock {
  type: string;
  der: Buffer;
}

const BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/g;

/**
 * The PEM blocks of a text, in one pass (linear: a file of BEGIN lines without END lines costs no more than its
 * size). A block whose body is not base64, or that has no END line, is left out.
 */
export function parsePem(text: string | Buffer): PemBlock[] {
  const source = typeof text === 'string' ? text : text.toString('latin1');
  const blocks: PemBlock[] = [];
  BEGIN.lastIndex = 0;
  for (let begin = BEGIN.exec(source); begin; begin = BEGIN.exec(source)) {
    const type = begin[1];
    const bodyStart = begin.index + begin[0].length;
    // the block ends at the first END line, or is cut short by the next BEGIN line (then it has no END: skipped)
    const endMarker = source.indexOf('-----END ', bodyStart);
    const nextBegin = source.indexOf('-----BEGIN ', bodyStart);
    if (endMarker < 0) break;
    if (nextBegin >= 0 && nextBegin < endMarker) {
      BEGIN.lastIndex = nextBegin;
      continue;
    }
    const endLine = `-----END ${type}-----`;
    if (!source.startsWith(endLine, endMarker)) {
      BEGIN.lastIndex = endMarker + 9;
      continue;
    }
    BEGIN.lastIndex = endMarker + endLine.length;
    const body = source.slice(bodyStart, endMarker).replace(/[\r\n\t ]/g, '');
    if (/^[A-Za-z0-9+/=]*$/.test(body)) blocks.push({ type, der: Buffer.from(body, 'base64') });
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
