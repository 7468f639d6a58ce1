// OpenSSH known_hosts: is this host key the one recorded for this host? (plain and hashed |1|salt|hash entries)
import { createHmac } from 'node:crypto';

export type HostKeyVerdict = 'match' | 'unknown' | 'changed';

/** The name OpenSSH records: "addr" on port 22, "[addr]:port" otherwise. */
export function knownHostsName(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

function nameMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  return pattern.split(',').some((p) => p === name);
}

export function checkHostKey(knownHostsText: string, name: string, key: Buffer): HostKeyVerdict {
  let seen = false;
  for (const raw of knownHostsText.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    if (fields[0].startsWith('@')) {
      if (fields[0] === '@revoked' && nameMatches(fields[1], name) && Buffer.from(fields[3] ?? '', 'base64').equals(key)) return 'changed';
      continue; // @cert-authority: not used by kpki
    }
    const [hosts, , blob] = fields;
    if (!hosts || !blob || !hosts.split(',').some((h) => nameMatches(h, name))) continue;
    seen = true;
    if (Buffer.from(blob, 'base64').equals(key)) return 'match';
  }
  return seen ? 'changed' : 'unknown';
}
