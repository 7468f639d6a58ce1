// File modes and owners of a node's PKI, as the CIS Kubernetes Benchmark (section 1.1, kube-bench) checks them:
// private keys and kubeconfigs 0600 or stricter, certificates 0644 or stricter, static pod manifests 0600, owner
// root:root (Kubespray's etcd certificates: root or the `kube` user it documents), no group- or world-writable PKI or
// manifests directory. Findings are warnings: they name the file and the command that fixes it.
import { posix } from 'node:path';
import type { FileInfo, Host } from '../../hosts/host.js';
import { ETCD_SSL_DIR, MANIFEST_DIR } from '../../kubeadm/catalog.js';
import type { CaEntry, CertEntry, NodeScan, Problem } from './result.js';
import { slotFiles } from './slot-files.js';

/** private: holds a private key; kubeconfig: one without embedded credentials (kubelet.conf by file reference). */
export type FileKind = 'private' | 'kubeconfig' | 'certificate' | 'public' | 'manifest' | 'directory';

/** The loosest mode each kind of file may have. */
export const MAX_MODE: Record<FileKind, number> = {
  private: 0o600,
  kubeconfig: 0o600,
  certificate: 0o644,
  public: 0o644,
  manifest: 0o600,
  directory: 0o755,
};

const KIND_WORDS: Record<FileKind, string> = {
  private: 'holds a private key',
  kubeconfig: 'a kubeconfig',
  certificate: 'a certificate',
  public: 'a public key',
  manifest: 'a static pod manifest',
  directory: 'a directory',
};

export interface FileFinding {
  path: string;
  kind: FileKind;
  code: 'loose-mode' | 'wrong-owner';
  /** The file's mode as found. */
  mode: number;
  message: string;
  /** The command that fixes it. */
  fix: string;
  /** The certificate entry the file belongs to, when it belongs to one. */
  entry?: string;
}

interface Target {
  path: string;
  kind: FileKind;
  owner?: CertEntry | CaEntry;
  /** Kubespray documents its etcd certificates as owned by `kube`. */
  kubeOwnerAllowed?: boolean;
}

export const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

function targetsOf(scan: NodeScan): Target[] {
  const targets: Target[] = [];
  const etcdSsl = (path: string) => path.startsWith(`${ETCD_SSL_DIR}/`);
  for (const ca of scan.cas) {
    if (ca.missing || ca.embeddedOnly) continue;
    targets.push({ path: ca.certPath, kind: 'certificate', owner: ca, kubeOwnerAllowed: etcdSsl(ca.certPath) });
    if (ca.keyPresent) targets.push({ path: ca.keyPath, kind: 'private', owner: ca, kubeOwnerAllowed: etcdSsl(ca.keyPath) });
  }
  for (const e of scan.entries) {
    if (e.missing) continue;
    for (const file of slotFiles(e.slot).files(e.slot, Boolean(e.keyPresent)))
      targets.push({ path: file.path, kind: file.holds, owner: e, kubeOwnerAllowed: etcdSsl(file.path) });
  }
  return targets;
}

/** Checks modes and owners; findings go to the entries they belong to and to `inventory.files`. */
export async function auditFiles(host: Host, scan: NodeScan): Promise<void> {
  const root = await host.stat('/');
  const want = { uid: root?.uid ?? 0, gid: root?.gid ?? 0 };
  const targets = targetsOf(scan);
  const extra: Target[] = [
    { path: posix.join(scan.kubeconfigDir, 'kubelet.conf'), kind: 'kubeconfig' },
    { path: posix.join(scan.certDir, 'sa.key'), kind: 'private' },
    { path: posix.join(scan.certDir, 'sa.pub'), kind: 'public' },
    { path: scan.certDir, kind: 'directory' },
    { path: posix.join(scan.certDir, 'etcd'), kind: 'directory' },
    { path: MANIFEST_DIR, kind: 'directory' },
    ...scan.manifests.map((m) => ({ path: m.path ?? posix.join(MANIFEST_DIR, m.component), kind: 'manifest' as const })),
  ];
  const seen = new Set(targets.map((t) => t.path));
  for (const t of extra) if (!seen.has(t.path)) seen.add(t.path), targets.push(t);
  const kubeUid = targets.some((t) => t.kubeOwnerAllowed) ? await uidOf(host, 'kube') : undefined;
  const infos = await Promise.all(targets.map((t) => host.stat(t.path).catch(() => null)));
  const findings: FileFinding[] = [];
  targets.forEach((t, i) => {
    const info = infos[i];
    if (!info || info.type === 'symlink' || info.type === 'other') return;
    if ((info.type === 'dir') !== (t.kind === 'directory')) return;
    // the fix names the file where the operator runs it: a mounted disk's real path, else the node path
    const real = host.describe(t.path);
    findings.push(...judgeFile({ ...t, fixPath: real.startsWith('/') ? real : t.path }, info, want, kubeUid));
  });
  for (const f of findings) {
    const owner = targets.find((t) => t.path === f.path)?.owner;
    if (owner) {
      f.entry = owner.name;
      owner.problems.push({ code: f.code, message: `${f.message} (${f.fix})` } as Problem);
    }
  }
  scan.files = findings;
}

function judgeFile(t: Target & { fixPath: string }, info: FileInfo, want: { uid: number; gid: number }, kubeUid?: number): FileFinding[] {
  const findings: FileFinding[] = [];
  const loose = info.mode & 0o777 & ~MAX_MODE[t.kind];
  if (loose) {
    const who = [loose & 0o070 ? 'group' : '', loose & 0o007 ? 'others' : ''].filter(Boolean).join(' and ');
    const verb = t.kind === 'directory' || (loose & 0o022) !== 0 ? 'writable' : 'readable';
    const wanted = info.mode & MAX_MODE[t.kind];
    findings.push({
      path: t.path,
      kind: t.kind,
      mode: info.mode,
      code: 'loose-mode',
      message: `${t.path} (${KIND_WORDS[t.kind]}) has mode ${octal(info.mode)}: ${verb} by ${who}; want ${octal(MAX_MODE[t.kind])} or stricter`,
      fix: `chmod ${octal(wanted).replace(/^0/, '')} ${t.fixPath}`,
    });
  }
  const uidOk = info.uid === want.uid || (t.kubeOwnerAllowed && kubeUid !== undefined && info.uid === kubeUid);
  const gidOk = t.kubeOwnerAllowed || info.gid === want.gid;
  if (!uidOk || !gidOk) {
    const expected = want.uid === 0 && want.gid === 0 ? 'root:root' : `${want.uid}:${want.gid}`;
    findings.push({
      path: t.path,
      kind: t.kind,
      mode: info.mode,
      code: 'wrong-owner',
      message: `${t.path} is owned by ${info.uid}:${info.gid}; want ${expected}${t.kubeOwnerAllowed ? ' (or kube, as Kubespray sets it)' : ''}`,
      fix: `chown ${expected} ${t.fixPath}`,
    });
  }
  return findings;
}

/** The uid of a user in the node's /etc/passwd (not this machine's). */
async function uidOf(host: Host, user: string): Promise<number | undefined> {
  try {
    const passwd = (await host.readFile('/etc/passwd')).toString('utf8');
    const line = passwd.split('\n').find((l) => l.startsWith(`${user}:`));
    return line ? Number(line.split(':')[2]) : undefined;
  } catch {
    return undefined;
  }
}
