// Plans the update of a user's kubeconfig from a cluster kubeconfig (admin.conf): the merged bytes, or nothing.
import { posix } from 'node:path';
import type { Host } from '../../hosts/host.js';
import { parseKubeconfig } from '../../kubeadm/kubeconfig.js';
import { credentialsOf, mergeCredentials, referencedCertificateFiles } from '../../kubeadm/kubeconfig-merge.js';
import { KpkiError, remedy } from '../../errors.js';
import { CERT_MODE, FileWrite, fileWrite, KEY_MODE, KUBECONFIG_MODE } from '../renew/index.js';
import { applyWrites } from '../txn/index.js';
import { DEFAULT_KUBECONFIG_DIR } from '../../kubeadm/catalog.js';

export interface KubeconfigUpdate {
  from: string;
  to: string;
  changes: string[];
  /** The kubeconfig itself, and the certificate and key files its users name, when they change. */
  writes: FileWrite[];
  created: boolean;
  /** The target held nothing of this cluster (its entries would be added). */
  added: boolean;
}

/**
 * `from` is read on the host, unless its text is given (an admin.conf read from a node over SSH, merged into the
 * operator's own kubeconfig).
 */
export async function planKubeconfigUpdate(host: Host, from: string, to: string, fromText?: string): Promise<KubeconfigUpdate> {
  let credentials;
  let source: string;
  const label = fromText === undefined ? host.describe(from) : from;
  try {
    source = fromText ?? (await host.readFile(from)).toString();
    credentials = credentialsOf(parseKubeconfig(source), label);
  } catch (err) {
    throw new KpkiError(`cannot use ${label}: ${(err as Error).message}`, {
      path: from,
      remedies: [remedy('name a kubeadm kubeconfig (default /etc/kubernetes/admin.conf)', 'kubeconfig', 'update', '--from', 'FILE')],
    });
  }
  const existing = await host.stat(to);
  if (existing && existing.type !== 'file')
    throw new KpkiError(`${host.describe(to)} is not a regular file (a symlink?): not writing through it`, { path: to });
  if (!existing) {
    return {
      from,
      to,
      created: true,
      added: true,
      changes: [`${to} does not exist: created as a copy of ${from}`],
      writes: [{ kind: 'file', path: to, data: source, mode: KUBECONFIG_MODE, entry: to, format: 'yaml' }],
    };
  }
  const current = await host.readFile(to);
  const currentText = current.toString('utf8');
  if (!Buffer.from(currentText, 'utf8').equals(current)) {
    // rewriting it would turn those bytes into U+FFFD: refuse instead of changing what is not ours
    throw new KpkiError(
      `${host.describe(to)} holds bytes that are not UTF-8 (a name or comment in another encoding): kpki would not write them back as they are; nothing was changed`,
      { path: to, hint: 'convert the file to UTF-8 (iconv -f latin1 -t utf-8), then run again' },
    );
  }
  const referenced = await readReferencedCertificates(host, to, currentText);
  let merged;
  try {
    merged = mergeCredentials(currentText, credentials, referenced);
  } catch (err) {
    throw new KpkiError(`cannot update ${host.describe(to)}: ${(err as Error).message}; nothing was changed`, { path: to, cause: err });
  }
  const changed = merged.changes.some((c) => !/already has these credentials|left alone| replaced in /.test(c));
  const writes: FileWrite[] = [];
  // (never group- or world-readable: it holds a private key)
  if (changed)
    writes.push({
      kind: 'file',
      path: to,
      data: merged.text,
      mode: existing.mode & 0o700 || KUBECONFIG_MODE,
      uid: existing.uid,
      gid: existing.gid,
      entry: to,
      format: 'yaml',
    });
  for (const update of merged.fileUpdates) writes.push(...(await referencedFileWrites(host, to, update, credentials)));
  return { from, to, created: false, added: merged.added, changes: merged.changes, writes };
}

/** A user's client-certificate file, relative to the kubeconfig's directory as kubectl reads it. */
const referencedPath = (kubeconfig: string, file: string) => posix.resolve(posix.dirname(kubeconfig), file);

/** The certificates the target's users keep in files, read where kubectl reads them (unreadable ones are left out). */
async function readReferencedCertificates(host: Host, to: string, text: string): Promise<Map<string, string>> {
  const read = new Map<string, string>();
  for (const file of referencedCertificateFiles(text)) {
    const data = await host.readFile(referencedPath(to, file)).catch(() => undefined);
    if (data) read.set(file, data.toString('utf8'));
  }
  return read;
}

/** The new certificate and key into the files a user names (the key beside the certificate when it names no key file). */
async function referencedFileWrites(
  host: Host,
  to: string,
  update: { user: string; certFile: string; keyFile?: string },
  credentials: { certPem: string; keyPem: string },
): Promise<FileWrite[]> {
  const certPath = referencedPath(to, update.certFile);
  if (!update.keyFile)
    return [
      await fileWrite(
        host,
        certPath,
        `${credentials.certPem.trim()}\n${credentials.keyPem.trim()}\n`,
        KEY_MODE,
        `${to} user ${update.user}`,
      ),
    ];
  return [
    await fileWrite(host, referencedPath(to, update.keyFile), credentials.keyPem, KEY_MODE, `${to} user ${update.user}`),
    await fileWrite(host, certPath, credentials.certPem, CERT_MODE, `${to} user ${update.user}`),
  ];
}

/** Applies a planned update with a backup (the caller holds the lock); returns the lines to print. */
export async function updateUserKubeconfig(
  host: Host,
  from: string,
  to: string,
  o: { dryRun?: boolean; fromText?: string } = {},
): Promise<{ lines: string[]; changed: boolean; added: boolean }> {
  const update = await planKubeconfigUpdate(host, from, to, o.fromText);
  const lines = update.changes.map((c) => `  ${c}`);
  if (update.writes.length === 0 || o.dryRun) return { lines, changed: false, added: update.added };
  await host.mkdirp(posix.dirname(to), 0o700);
  const { backup } = await applyWrites(host, update.writes, 'kubeconfig update');
  lines.push(`  backup ${backup.id} (undo with: kpki restore ${backup.id})`);
  return { lines, changed: true, added: update.added };
}

/**
 * admin.conf was renewed: the user's kubeconfig on the node (`to`) gets the new credentials when it already holds
 * this cluster's admin; a copy of somebody else's is left alone. Never fails the renewal: it only warns.
 */
export async function updateRootKubeconfig(
  host: Host,
  renewed: string[],
  to: string,
  log: (line: string) => void,
  kubeconfigDir = DEFAULT_KUBECONFIG_DIR,
): Promise<void> {
  if (!renewed.includes('admin.conf')) return;
  try {
    if (!(await host.stat(to))) return;
    const from = posix.join(kubeconfigDir, 'admin.conf');
    const update = await planKubeconfigUpdate(host, from, to);
    if (update.added) {
      log(`${to} does not hold this cluster's admin credentials: left alone (kpki kubeconfig update --to ${to} adds them)`);
      return;
    }
    if (update.writes.length === 0) return;
    const { lines } = await updateUserKubeconfig(host, from, to);
    log(`Updated ${host.describe(to)} with the renewed admin credentials (other clusters and contexts kept):\n${lines.join('\n')}`);
  } catch (err) {
    // the cluster is fine; only the convenience copy could not be updated
    log(`warning: ${(err as Error).message}`);
  }
}
