// kubeadm's `certs check-expiration` output: text (byte-compatible) and CertificateExpirationInfo (json/yaml).
import { isExternallyManaged, NodeScan } from '../node/scan/index.js';
import { tabwrite } from './tabwriter.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number) => String(n).padStart(2, '0');

/** Go layout "Jan 02, 2006 15:04 MST" in UTC. */
export function kubeadmDate(date: Date): string {
  return `${MONTHS[date.getUTCMonth()]} ${pad2(date.getUTCDate())}, ${date.getUTCFullYear()} ${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())} UTC`;
}

/** k8s.io/apimachinery duration.ShortHumanDuration. */
export function shortHumanDuration(seconds: number): string {
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(seconds / 3600);
  if (hours < 24) return `${hours}h`;
  if (hours < 24 * 365) return `${Math.floor(hours / 24)}d`;
  return `${Math.floor(hours / 24 / 365)}y`;
}

export interface KubeadmCertificate {
  name: string;
  expirationDate?: string;
  residualTime?: number;
  caName?: string;
  externallyManaged: boolean;
  missing: boolean;
}

export interface CertificateExpirationInfo {
  kind: 'CertificateExpirationInfo';
  apiVersion: 'output.kubeadm.k8s.io/v1alpha3';
  certificates: KubeadmCertificate[];
  certificateAuthorities: KubeadmCertificate[];
}

function residualSeconds(notAfter: Date, now: Date): number {
  return Math.trunc((notAfter.getTime() - now.getTime()) / 1000);
}

function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** kubeadm's fields only; `extra` adds kpki's detail per entry (kept out of the text format). */
export function expirationInfo(scan: NodeScan, now: Date, extra?: (name: string) => Record<string, unknown>): CertificateExpirationInfo {
  const certificates = scan.entries
    .filter((e) => e.kubeadm || extra)
    .map((e) => ({
      name: e.name,
      ...(e.cert ? { expirationDate: rfc3339(e.cert.notAfter), residualTime: residualSeconds(e.cert.notAfter, now) } : {}),
      ...(e.cert ? { caName: e.signer ?? e.expectedCa ?? '' } : {}),
      externallyManaged: e.cert ? isExternallyManaged(scan, e) : false,
      missing: e.missing,
      ...(extra ? extra(e.name) : {}),
    }));
  const certificateAuthorities = scan.cas
    .filter((c) => !c.embeddedOnly || extra)
    .map((c) => ({
      name: c.name,
      ...(c.cert ? { expirationDate: rfc3339(c.cert.notAfter), residualTime: residualSeconds(c.cert.notAfter, now) } : {}),
      externallyManaged: !c.keyPresent,
      missing: c.missing,
      ...(extra ? extra(`ca:${c.name}`) : {}),
    }));
  return {
    kind: 'CertificateExpirationInfo',
    apiVersion: 'output.kubeadm.k8s.io/v1alpha3',
    certificates,
    certificateAuthorities,
  };
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

/** The text kubeadm prints, through the same tabwriter settings (minwidth 10, tabwidth 4, padding 3). */
export function kubeadmText(info: CertificateExpirationInfo): string {
  let text = 'CERTIFICATE\tEXPIRES\tRESIDUAL TIME\tCERTIFICATE AUTHORITY\tEXTERNALLY MANAGED\n';
  for (const cert of info.certificates) {
    if (cert.missing) {
      text += `!MISSING! ${cert.name}\t\t\t\t\n`;
      continue;
    }
    const expires = kubeadmDate(new Date(cert.expirationDate!));
    text += `${cert.name}\t${expires}\t${shortHumanDuration(cert.residualTime!)}\t${cert.caName}\t${yesNo(cert.externallyManaged).padEnd(8)}\n`;
  }
  text += '\n';
  text += 'CERTIFICATE AUTHORITY\tEXPIRES\tRESIDUAL TIME\tEXTERNALLY MANAGED\n';
  for (const ca of info.certificateAuthorities) {
    if (ca.missing) {
      text += `!MISSING! ${ca.name}\t\t\t\n`;
      continue;
    }
    const expires = kubeadmDate(new Date(ca.expirationDate!));
    text += `${ca.name}\t${expires}\t${shortHumanDuration(ca.residualTime!)}\t${yesNo(ca.externallyManaged).padEnd(8)}\n`;
  }
  return tabwrite(text, { minwidth: 10, tabwidth: 4, padding: 3, padchar: ' ' });
}
