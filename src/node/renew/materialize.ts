// Turns a plan into bytes: new keys and certificates and the files that carry them, all in memory, before any write.
import type { KeyObject } from 'node:crypto';
import type { Host } from '../../hosts/host.js';
import { Certificate, certificateToPem, isSignedBy, keyMatchesCertificate, parseCertificate } from '../../pki/certificate.js';
import type { RawExtension } from '../../pki/der.js';
import type * as Issue from '../../pki/issue.js';
import { generatePrivateKey, privateKeyToPem } from '../../pki/keys.js';
import { CertEntry, NodeScan, OWN_CA } from '../scan/index.js';
import { OWN_CA_BACKDATE_MS, PlanItem, RenewalPlan } from './plan.js';
import { KpkiError } from '../../errors.js';
import { holdsPrivateKey } from '../../hosts/secret-modes.js';
import { readOptional } from '../scan/index.js';
import { slotWriter } from './slot-writers.js';

/** One change to the node: a file's new content, or a symlink's new target. Key files come before their certs. */
export type FileWrite =
  | {
      kind: 'file';
      path: string;
      data: string | Buffer;
      mode: number;
      uid?: number;
      gid?: number;
      entry: string;
      /** bundle: certificates only (a CA file that trusts several CAs); keys: the service-account key pair's files. */
      format: 'pem' | 'bundle' | 'keys' | 'kubeconfig' | 'yaml' | 'text' | 'binary';
    }
  | { kind: 'symlink'; path: string; target: string; entry: string }
  | { kind: 'remove'; path: string; entry: string };

export const KEY_MODE = 0o600;
export const CERT_MODE = 0o644;
export const KUBECONFIG_MODE = 0o600;

export async function materialize(host: Host, scan: NodeScan, plan: RenewalPlan): Promise<FileWrite[]> {
  // every new key at once (the kubelet's serving certificate needs two): key generation is most of a renewal's time,
  // and the machine's cores make them fastest all together. Each certificate is signed as soon as its key is there,
  // while the cores still make the others (and the X.509 library loads meanwhile, before the first key is done).
  const issuing = import('../../pki/issue.js');
  const issued = await Promise.all(
    plan.items.map(async (item) => {
      const keys = await newKeys(scan, item);
      return issueFor(await issuing, scan, item, keys);
    }),
  );
  for (const i of issued) checkIssued(i.item, i.cert, i.signer, i.extensions, i.key, i.subject);
  const writes: FileWrite[] = [];
  for (const { item, entry, certPem, keyPem } of issued) {
    writes.push(...(await filesFor(host, scan, entry, item, certPem, keyPem)));
  }
  return [...writes, ...(await tightenedModes(host, plan, new Set(writes.map((w) => w.path))))];
}

/**
 * The whole certificate, checked in memory before anything is written: the plan's dates (notBefore before notAfter,
 * not expired), signed by the CA the plan names, the old subject, exactly the extensions meant, the new key.
 */
function checkIssued(
  item: PlanItem,
  cert: Certificate,
  signer: Certificate,
  extensions: RawExtension[],
  key: KeyObject,
  subject?: Buffer,
): void {
  const fail = (what: string) => {
    throw new KpkiError(`the certificate made for ${item.name} ${what}: nothing was written`, {
      hint: 'this is a kpki bug: please report it with the plan (--dry-run)',
    });
  };
  const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
  if (seconds(cert.notBefore) !== seconds(item.newNotBefore) || seconds(cert.notAfter) !== seconds(item.newNotAfter))
    fail(`has dates ${cert.notBefore.toISOString()} - ${cert.notAfter.toISOString()}, not the plan's`);
  if (cert.notBefore.getTime() >= cert.notAfter.getTime() || cert.notAfter.getTime() <= Date.now()) fail('is not valid from now on');
  if (!isSignedBy(cert, signer)) fail(`is not signed by ${item.signer}`);
  if (subject && !cert.subjectDer.equals(subject)) fail(`has the subject "${cert.subject}", not the old one`);
  const meant = extensions.map((e) => `${e.oid}:${e.critical}:${e.value.toString('hex')}`).sort();
  const got = cert.extensions
    .filter((e) => e.oid !== AUTHORITY_KEY_ID)
    .map((e) => `${e.oid}:${e.critical}:${e.value.toString('hex')}`)
    .sort();
  if (meant.join() !== got.join()) fail('does not carry exactly the extensions of the old one');
  if (!keyMatchesCertificate(cert, key)) fail('does not belong to its new key');
}

const AUTHORITY_KEY_ID = '2.5.29.35';

/** Key files the plan found readable by group or others and nothing else rewrites: the same bytes, mode 0600. */
async function tightenedModes(host: Host, plan: RenewalPlan, written: Set<string>): Promise<FileWrite[]> {
  const writes: FileWrite[] = [];
  for (const change of plan.modeChanges) {
    if (written.has(change.path)) continue;
    const info = await host.stat(change.path);
    if (info?.type !== 'file') continue;
    const data = await host.readFile(change.path);
    if (!holdsPrivateKey(data)) continue;
    writes.push({
      kind: 'file',
      path: change.path,
      data,
      mode: change.to,
      uid: info.uid,
      gid: info.gid,
      entry: `mode of ${change.path}`,
      format: 'binary',
    });
  }
  return writes;
}

/** Test hook: a renewal that loses a SAN the node needs, to prove `renew --restart` rolls a bad renewal back. */
const DROP_SAN = process.env.KPKI_TEST_DROP_SAN;

/** The item's new key (or its old one with --reuse-keys) and, for a certificate that carries its own CA, that CA's. */
async function newKeys(scan: NodeScan, item: PlanItem): Promise<{ key: KeyObject; caKey?: KeyObject }> {
  const entry = scan.entries.find((e) => e.name === item.name) as CertEntry;
  const [key, caKey] = await Promise.all([
    item.reuseKey && entry.key ? entry.key : generatePrivateKey(item.keyAlgorithm),
    item.signer === OWN_CA ? generatePrivateKey(item.keyAlgorithm) : undefined,
  ]);
  return { key, caKey };
}

async function issueFor(issue: typeof Issue, scan: NodeScan, item: PlanItem, keys: { key: KeyObject; caKey?: KeyObject }) {
  const { extensionsToCopy, issueCertificate, issueWithThrowawayCa, withoutSubjectAltName, withSubjectAltNames } = issue;
  const entry = scan.entries.find((e) => e.name === item.name) as CertEntry;
  const old = entry.cert!;
  const key = keys.key;
  // the old certificate's extensions, with the plan's names where they change (kpki san)
  const copied = item.sans ? withSubjectAltNames(extensionsToCopy(old), item.sans) : extensionsToCopy(old);
  const extensions = DROP_SAN ? withoutSubjectAltName(copied, DROP_SAN) : copied;
  if (item.signer === OWN_CA) {
    // The kubelet's shape: a new throwaway CA signs the new leaf; both go into the file, the CA key is forgotten.
    const { leaf, ca } = await issueWithThrowawayCa({
      host: old.commonName.replace(/@\d+$/, '') || scan.node,
      unixTime: Math.floor((item.newNotBefore.getTime() + OWN_CA_BACKDATE_MS) / 1000),
      key,
      caKey: keys.caKey!,
      extensions,
      notBefore: item.newNotBefore,
      notAfter: item.newNotAfter,
    });
    return {
      item,
      entry,
      cert: leaf,
      signer: ca,
      extensions,
      key,
      subject: undefined,
      certPem: certificateToPem(leaf) + certificateToPem(ca),
      keyPem: privateKeyToPem(key),
    };
  }
  const ca = scan.cas.find((c) => c.name === item.signer);
  if (ca && !ca.key)
    throw new KpkiError(`the key of CA ${ca.name} was not loaded (${ca.keyPath}): cannot sign ${item.name}`, { path: ca.keyPath });
  // A self-signed certificate (an old kubelet's serving cert) is signed by its own new key.
  const signer = ca ? { cert: ca.cert!, key: ca.key! } : { cert: old, key, selfSigned: true };
  const cert = await issueCertificate({
    subject: old.subjectDer,
    extensions,
    publicKey: key,
    notBefore: item.newNotBefore,
    notAfter: item.newNotAfter,
    signer,
  });
  // certificates written after the leaf (its chain) stay after the new one
  const chain = (entry.chain ?? []).map(certificateToPem).join('');
  const subject = old.subjectDer;
  return {
    item,
    entry,
    cert,
    signer: ca ? ca.cert! : cert,
    extensions,
    key,
    subject,
    certPem: certificateToPem(cert) + chain,
    keyPem: privateKeyToPem(key),
  };
}

async function filesFor(
  host: Host,
  scan: NodeScan,
  entry: CertEntry,
  item: PlanItem,
  certPem: string,
  keyPem: string,
): Promise<FileWrite[]> {
  // (a kubeconfig gets the cluster CA as it is on disk: a bundle while a rotation trusts two)
  const caPem = entry.slot.kind === 'kubeconfig' ? await caPemOnDisk(host, scan) : undefined;
  return slotWriter(entry.slot).writes(host, entry, { certPem, keyPem, caPem, notBefore: item.newNotBefore });
}

/**
 * The files a plan's certificates go into, known before their keys are made (a renewal backs them up meanwhile).
 * materialize() writes exactly these for the plan's items; what else a run writes is backed up when it is known.
 */
export async function plannedPaths(host: Host, scan: NodeScan, plan: RenewalPlan): Promise<string[]> {
  const paths: string[] = [];
  for (const item of plan.items) {
    const slot = (scan.entries.find((e) => e.name === item.name) as CertEntry).slot;
    paths.push(...(await slotWriter(slot).plannedPaths(host, slot, item.newNotBefore)));
  }
  return paths;
}

/** Keeps owner and mode of an existing file (kubeadm's modes for new ones); refuses to write through a symlink. */
export async function fileWrite(
  host: Host,
  path: string,
  data: string,
  defaultMode: number,
  entry: string,
  format: 'pem' | 'bundle' | 'keys' | 'kubeconfig' | 'yaml' = 'pem',
): Promise<FileWrite> {
  const info = await host.stat(path);
  if (info?.type === 'symlink') {
    throw new KpkiError(`${host.describe(path)} is a symlink to ${info.linkTarget}: kpki does not write through symlinks`, {
      path,
      hint: 'replace the link with a copy of its target (cp --remove-destination "$(readlink -f FILE)" FILE), then run again',
    });
  }
  if (info && info.type !== 'file') throw new KpkiError(`${host.describe(path)} is not a regular file`, { path });
  return info
    ? { kind: 'file', path, data, mode: info.mode, uid: info.uid, gid: info.gid, entry, format }
    : { kind: 'file', path, data, mode: defaultMode, entry, format };
}

async function caPemOnDisk(host: Host, scan: NodeScan): Promise<string | undefined> {
  const ca = scan.cas.find((c) => c.name === 'ca' && !c.embeddedOnly);
  if (!ca) return undefined;
  const file = await readOptional(host, ca.certPath);
  if (!file.ok) return undefined;
  parseCertificate(file.value);
  return file.value.toString('utf8');
}
