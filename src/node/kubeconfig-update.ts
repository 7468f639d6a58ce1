// Plans the update of a user's kubeconfig from a cluster kubeconfig (admin.conf): the merged bytes, or nothing.
import { posix } from 'node:path';
import type { Host } from '../hosts/host.js';
import { parseKubeconfig } from '../kubeadm/kubeconfig.js';
import { credentialsOf, mergeCredentials } from '../kubeadm/kubeconfig-merge.js';
import { KpkiError } from './errors.js';
import { KUBECONFIG_MODE, FileWrite } from './materialize.js';

export interface KubeconfigUpdate {
  from: string;
  to: string;
  changes: string[];
  write?: FileWrite;
  created: boolean;
  /** The target held nothing of this cluster (its entries would be added). */
  added: boolean;
}

export async function planKubeconfigUpdate(host: Host, from: string, to: string): Promise<KubeconfigUpdate> {
  let credentials;
  try {
    credentials = credentialsOf(parseKubeconfig((await host.readFile(from)).toString()), host.describe(from));
  } catch (err) {
    throw new KpkiError(`cannot use ${host.describe(from)}: ${(err as Error).message}`, { path: from, hint: 'name a kubeadm kubeconfig with --from (default /etc/kubernetes/admin.conf)' });
  }
  const existing = await host.stat(to);
  if (existing && existing.type !== 'file') throw new KpkiError(`${host.describe(to)} is not a regular file (a symlink?): not writing through it`, { path: to });
  if (!existing) {
    const text = (await host.readFile(from)).toString();
    return { from, to, created: true, added: true, changes: [`${to} does not exist: created as a copy of ${from}`], write: { kind: 'file', path: to, data: text, mode: KUBECONFIG_MODE, entry: to, format: 'yaml' } };
  }
  let merged;
  try {
    merged = mergeCredentials((await host.readFile(to)).toString(), credentials);
  } catch (err) {
    throw new KpkiError(`cannot update ${host.describe(to)}: ${(err as Error).message}; nothing was changed`, { path: to });
  }
  const changed = merged.changes.some((c) => !/already has these credentials|left alone/.test(c));
  return {
    from,
    to,
    created: false,
    added: merged.added,
    changes: merged.changes,
    // (never group- or world-readable: it holds a private key)
    write: changed ? { kind: 'file', path: to, data: merged.text, mode: existing.mode & 0o700 || KUBECONFIG_MODE, uid: existing.uid, gid: existing.gid, entry: to, format: 'yaml' } : undefined,
  };
}

export function kubeDirOf(path: string): string {
  return posix.dirname(path);
}
