// Files that hold private key material (a PEM private key, a kubeconfig's client-key-data) are never written readable
// by group or others, whatever mode they had or were asked for: every write goes through this rule.

// a PEM private key block (its BEGIN line at a line start, base64 after it) or a kubeconfig's client-key-data with a
// value; program text that merely names them (kpki's own executable) is not key material
const PEM_PRIVATE_KEY = /^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/]/m;
const KUBECONFIG_KEY = /^[ \t-]*"?client-key-data"?[ \t]*:[ \t]*"?[A-Za-z0-9+/]{16}/m;

export function holdsPrivateKey(data: Buffer | string): boolean {
  const text = typeof data === 'string' ? data : data.toString('latin1');
  return PEM_PRIVATE_KEY.test(text) || KUBECONFIG_KEY.test(text);
}

/** The mode a file holding private key material gets: at most 0600, never looser than asked. */
export function secretMode(mode: number): number {
  return mode & 0o600;
}

/** The mode a write really uses: tightened for key material, as asked otherwise. */
export function writeMode(data: Buffer | string, mode: number): number {
  return holdsPrivateKey(data) ? secretMode(mode) : mode;
}
