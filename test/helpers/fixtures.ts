// The real-world PKI trees in ../shared/fixtures/real-world, copied into a temp root with kubeadm's node layout.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempRoot } from './kpki.js';

export const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures', 'real-world');
export const fixturesPresent = existsSync(FIXTURES);
export const SKIP_REASON = `real-world fixtures not found at ${FIXTURES} (they live in ../shared, beside the checkout)`;

export interface FixtureRoot {
  name: string;
  root: string;
  /** Global flags the layout needs (custom directories). */
  flags: string[];
  /** REPORT.txt path (relative to the case) → the node path it was copied to. */
  pathMap: (reportPath: string) => string | undefined;
  caKeys: boolean;
}

export function caseNames(): string[] {
  if (!fixturesPresent) return [];
  return readdirSync(FIXTURES)
    .filter((n) => existsSync(join(FIXTURES, n, 'REPORT.txt')) && n !== 'kubespray-admin-kubeconfigs')
    .sort();
}

/** Kubespray cases: one admin kubeconfig per install, each its own node root. */
export function kubesprayConfigs(): string[] {
  const base = join(FIXTURES, 'kubespray-admin-kubeconfigs');
  if (!existsSync(base)) return [];
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, name.name);
      if (name.isDirectory()) walk(path);
      else if (name.name === 'admin.conf' || name.name === 'config') found.push(path.slice(base.length + 1));
    }
  };
  walk(base);
  return found.sort();
}

export function copyCase(name: string): FixtureRoot {
  const src = join(FIXTURES, name);
  const root = tempRoot(`kpki-fx-${name.slice(0, 20)}-`);
  const copy = (from: string, to: string) => {
    mkdirSync(join(root, to, '..'), { recursive: true });
    cpSync(join(src, from), join(root, to), { recursive: true });
  };
  let flags: string[] = [];
  let pathMap = (p: string): string | undefined => (p.startsWith('etc/') ? `/${p}` : undefined);
  if (name.includes('tinyk8s')) {
    copy('kubernetes', 'kubernetes');
    flags = ['--cert-dir', '/kubernetes/pki', '--kubeconfig-dir', '/kubernetes/kubeconfig'];
    pathMap = (p) => `/${p}`;
  } else if (name.includes('sjkcdpc')) {
    copy('k8s', 'etc/kubernetes');
    pathMap = (p) => (p.startsWith('k8s/') ? `/etc/kubernetes/${p.slice(4)}` : undefined);
  } else if (name.startsWith('kubekey')) {
    copy('kubekey/pki/etcd', 'etc/ssl/etcd/ssl');
    copy('kubekey/config-kubekey2022-10-01', 'etc/kubernetes/admin.conf');
    pathMap = (p) =>
      p.startsWith('kubekey/pki/etcd/')
        ? `/etc/ssl/etcd/ssl/${p.slice('kubekey/pki/etcd/'.length)}`
        : p === 'kubekey/config-kubekey2022-10-01'
          ? '/etc/kubernetes/admin.conf'
          : undefined;
  } else {
    copy('etc', 'etc');
    if (name.includes('manlme')) {
      // the case's admin kubeconfig was kept at the repository root
      cpSync(join(src, 'repo-root-extras', 'config'), join(root, 'etc/kubernetes/admin.conf'));
      const base = pathMap;
      pathMap = (p) => (p === 'repo-root-extras/config' ? '/etc/kubernetes/admin.conf' : base(p));
    }
  }
  const report = readFileSync(join(src, 'REPORT.txt'), 'utf8');
  const caKeys = /ca\.key|ca-key\.pem/.test(report.split('== CERTIFICATES ==')[0]);
  return { name, root, flags, pathMap, caKeys };
}

export function copyKubespray(relPath: string): FixtureRoot {
  const root = tempRoot('kpki-fx-kubespray-');
  mkdirSync(join(root, 'etc/kubernetes'), { recursive: true });
  cpSync(join(FIXTURES, 'kubespray-admin-kubeconfigs', relPath), join(root, 'etc/kubernetes/admin.conf'));
  return { name: relPath, root, flags: [], pathMap: (p) => (p === relPath ? '/etc/kubernetes/admin.conf' : undefined), caKeys: false };
}

export interface ReportedCert {
  /** Path in the case (before "#" for kubeconfig-embedded ones). */
  file: string;
  /** "user=NAME/client-certificate-data" and the like, for embedded certificates. */
  embedded?: string;
  notAfter: Date;
  subject: string;
}

/** The certificates REPORT.txt lists, with openssl's notAfter. */
export function reportedCerts(reportText: string): ReportedCert[] {
  const certs: ReportedCert[] = [];
  const section = reportText.split('== CERTIFICATES ==')[1] ?? '';
  for (const block of section.split(/^-- /m).slice(1)) {
    const header = block.split('\n')[0].trim();
    const notAfter = /notAfter:\s+(.+?GMT)/.exec(block)?.[1];
    const subject = /subject:\s+(.*)/.exec(block)?.[1]?.trim() ?? '';
    if (!notAfter) continue;
    const [file, embedded] = header.split('#');
    certs.push({ file: file.trim(), embedded, notAfter: new Date(notAfter), subject });
  }
  return certs;
}
