// ssh2's protocol helpers, used for what ssh2 does not do itself (user certificates: ssh-certificates.ts).
declare module 'ssh2/lib/protocol/utils.js' {
  export function sendPacket(proto: unknown, packet: Buffer): void;
  export function convertSignature(signature: Buffer, type: string): Buffer | false;
}
