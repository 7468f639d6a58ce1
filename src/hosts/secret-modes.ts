// Files that hold private key material (a PEM private key, a kubeconfig's client-key-data) are never written readable
// by group or others, whatever mode they had or were asked for: every write goes through this rule.

const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|client-key-data/;

export function holdsPrivateKey(data: Buffer | string): boolean {
  return PRIVATE_KEY.test(typeof data === 'string' ? data : data.toString('latin1'));
}

/** The mode a file holding private key material gets: at most 0600, never looser than asked. */
export function secretMode(mode: number): number {
  return mode & 0o600;
}

/** The mode a write really uses: tightened for key material, as asked otherwise. */
export function writeMode(data: Buffer | string, mode: number): number {
  return holdsPrivateKey(data) ? secretMode(mode) : mode;
}
