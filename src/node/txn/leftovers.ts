// What a killed run leaves besides its journal: temp files of atomic writes (".apiserver.crt.kpki-1a2b3c4d.tmp", one
// may be a complete CA-signed credential) and backups it never finished (no manifest, but key copies inside). The
// next run, holding the node lock, removes them and says so.
import { posix } from 'node:path';
import type { Host } from '../../hosts/host.js';
import { DEFAULT_CERT_DIR, DEFAULT_KUBECONFIG_DIR, ETCD_SSL_DIR, KUBELET_PKI_DIR, MANIFEST_DIR } from '../../kubeadm/catalog.js';
import { BACKUP_DIR, incompleteBackups, STATE_DIR } from './backup.js';

/** The temp files Host.writeFileAtomic and symlinkAtomic make (and rename away when they finish). */
export const TEMP_FILE = /^\..+\.kpki-[0-9a-f]{8}\.tmp$/;

/** Where kpki writes: where its temp files can be left. */
const WRITTEN_DIRS = [
  DEFAULT_CERT_DIR,
  `${DEFAULT_CERT_DIR}/etcd`,
  DEFAULT_KUBECONFIG_DIR,
  MANIFEST_DIR,
  '/etc/kubernetes/kpki-parked',
  KUBELET_PKI_DIR,
  '/var/lib/kubelet',
  ETCD_SSL_DIR,
  STATE_DIR,
  '/etc/systemd/system',
  '/usr/local/bin',
  '/root/.kube',
];

export async function removeLeftovers(host: Host, extraDirs: string[] = []): Promise<string[]> {
  const lines: string[] = [];
  const temps: string[] = [];
  for (const dir of [...new Set([...WRITTEN_DIRS, ...extraDirs])]) {
    for (const name of await host.list(dir).catch(() => [] as string[])) if (TEMP_FILE.test(name)) temps.push(posix.join(dir, name));
  }
  for (const path of temps) await host.remove(path);
  if (temps.length) lines.push(`removed ${temps.length} temp file(s) an interrupted run left: ${temps.join(', ')}`);
  const partial = await incompleteBackups(host);
  for (const id of partial) await host.remove(posix.join(BACKUP_DIR, id));
  if (partial.length) lines.push(`removed ${partial.length} backup(s) an interrupted run never finished: ${partial.join(', ')}`);
  return lines;
}
