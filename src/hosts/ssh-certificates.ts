// OpenSSH user certificates (a key signed by an SSH CA that the node trusts with TrustedUserCAKeys, as vaults issue
// them). ssh2 cannot offer one (mscdex/ssh2#551, #808 and #1486 are open): it names a key's algorithm once, for the
// request and for the signature, where a certificate needs two names (ssh-ed25519-cert-v01@openssh.com for the key,
// ssh-ed25519 for the signature, which OpenSSH checks). So a certificate travels as a key whose public half is the
// certificate, and its publickey request is written here with both names; everything else is ssh2's.
import type { Client } from 'ssh2';

/** The algorithm names of each certificate type: offered in the request, and those of the signature. */
const ALGORITHMS: Record<string, { request: string; signature: string; hash?: string }> = {
  'ssh-ed25519-cert-v01@openssh.com': { request: 'ssh-ed25519-cert-v01@openssh.com', signature: 'ssh-ed25519' },
  'ecdsa-sha2-nistp256-cert-v01@openssh.com': {
    request: 'ecdsa-sha2-nistp256-cert-v01@openssh.com',
    signature: 'ecdsa-sha2-nistp256',
    hash: 'sha256',
  },
  'ecdsa-sha2-nistp384-cert-v01@openssh.com': {
    request: 'ecdsa-sha2-nistp384-cert-v01@openssh.com',
    signature: 'ecdsa-sha2-nistp384',
    hash: 'sha384',
  },
  'ecdsa-sha2-nistp521-cert-v01@openssh.com': {
    request: 'ecdsa-sha2-nistp521-cert-v01@openssh.com',
    signature: 'ecdsa-sha2-nistp521',
    hash: 'sha512',
  },
  // (never SHA-1 signatures: OpenSSH 8.8 and later refuse ssh-rsa)
  'ssh-rsa-cert-v01@openssh.com': { request: 'rsa-sha2-512-cert-v01@openssh.com', signature: 'rsa-sha2-512', hash: 'sha512' },
};

const CERTIFICATE = Symbol('kpki-ssh-certificate');

/** ssh2's parsed key, as far as this file uses it. */
interface ParsedKey {
  type: string;
  getPublicSSH(): Buffer;
  sign(data: Buffer, algo?: string): Buffer | Error;
}

/** SSH wire strings: uint32 length, bytes. */
function readString(buf: Buffer, at: number): [Buffer, number] {
  const length = buf.readUInt32BE(at);
  return [buf.subarray(at + 4, at + 4 + length), at + 4 + length];
}

/** The certificate of an OpenSSH "-cert.pub" line (type, blob), or undefined when it is not one kpki knows. */
export function parseCertificateLine(text: string): { type: string; blob: Buffer } | undefined {
  const [type, base64] = text.trim().split(/\s+/);
  if (!type || !base64 || !ALGORITHMS[type]) return undefined;
  const blob = Buffer.from(base64, 'base64');
  try {
    return readString(blob, 0)[0].toString() === type ? { type, blob } : undefined;
  } catch {
    return undefined;
  }
}

/** True when the certificate certifies this key: its public key fields follow the type and nonce in the blob. */
export function certifies(blob: Buffer, key: ParsedKey): boolean {
  try {
    const [, afterType] = readString(blob, 0);
    const [, afterNonce] = readString(blob, afterType);
    const publicSsh = key.getPublicSSH();
    const [, fieldsAt] = readString(publicSsh, 0);
    const fields = publicSsh.subarray(fieldsAt);
    return blob.subarray(afterNonce, afterNonce + fields.length).equals(fields);
  } catch {
    return false;
  }
}

/** The private key presented with its certificate: ssh2 takes it for a key of the certificate's type. */
export function certificateKey(key: ParsedKey, cert: { type: string; blob: Buffer }): ParsedKey {
  const names = ALGORITHMS[cert.type];
  const wrapper = Object.create(key) as ParsedKey & { [CERTIFICATE]: typeof names };
  Object.defineProperties(wrapper, {
    type: { value: names.request },
    getPublicSSH: { value: () => cert.blob },
    sign: { value: (data: Buffer) => key.sign(data, names.hash) },
    [CERTIFICATE]: { value: names },
  });
  return wrapper;
}

type Protocol = {
  authPK(username: string, key: unknown, keyAlgo?: unknown, cbSign?: unknown): void;
  _packetRW: { write: { alloc(n: number): Buffer; allocStart: number; finalize(packet: Buffer): Buffer } };
  _kex: { sessionID: Buffer };
  _authsQueue: string[];
  _debug?: (message: string) => void;
};

type Sign = (data: Buffer, done: (signature: Buffer) => void) => void;

const USERAUTH_REQUEST = 50;

/** ssh2's packet writer and signature conversion, loaded with ssh2 (bundled with it in the standalone executable). */
export type Ssh2Utils = typeof import('ssh2/lib/protocol/utils.js');

export async function loadSsh2Utils(): Promise<Ssh2Utils> {
  const utils = (await import('ssh2/lib/protocol/utils.js')) as Ssh2Utils & { default?: Ssh2Utils };
  return utils.default?.sendPacket ? utils.default : utils;
}

/** Makes the client's publickey requests of certificate keys carry the certificate's two algorithm names. */
export function allowCertificates(client: Client, { sendPacket, convertSignature }: Ssh2Utils): void {
  const proto = (client as unknown as { _protocol: Protocol })._protocol;
  const original = proto.authPK;
  proto.authPK = function (this: Protocol, username: string, key: unknown, keyAlgo?: unknown, cbSign?: unknown) {
    const names = (key as { [CERTIFICATE]?: (typeof ALGORITHMS)[string] })?.[CERTIFICATE];
    if (!names) return original.call(this, username, key, keyAlgo, cbSign);
    const sign = (typeof keyAlgo === 'function' ? keyAlgo : cbSign) as Sign | undefined;
    const fields = (signature?: Buffer) =>
      [
        Buffer.from([USERAUTH_REQUEST]),
        sshString(username),
        sshString('ssh-connection'),
        sshString('publickey'),
        Buffer.from([sign ? 1 : 0]),
        sshString(names.request),
        sshString((key as ParsedKey).getPublicSSH()),
        ...(signature ? [sshString(Buffer.concat([sshString(names.signature), sshString(signature)]))] : []),
      ] as Buffer[];
    const send = (body: Buffer[]) => {
      const payload = Buffer.concat(body);
      const packet = this._packetRW.write.alloc(payload.length);
      payload.copy(packet, this._packetRW.write.allocStart);
      this._authsQueue.push('publickey');
      sendPacket(this, this._packetRW.write.finalize(packet));
    };
    if (!sign) return send(fields());
    const toSign = Buffer.concat([sshString(this._kex.sessionID), ...fields()]);
    sign(toSign, (signature) => {
      const converted = convertSignature(signature, names.signature);
      if (converted === false) throw new Error('the certificate key made a signature that cannot be converted');
      send(fields(converted));
    });
  };
}

function sshString(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}
