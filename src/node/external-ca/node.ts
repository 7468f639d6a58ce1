// External CA mode: the CA key is not on the node. `kpki csr` leaves a new key on the node beside the certificate
// (`<key>.next`, 0600) and hands out a request with exactly the current certificate's subject and SANs; the CA's
// owners sign it; `kpki import` checks every signed certificate against what was asked and what the node trusts,
// and only if all of them pass installs them with their pending keys (backup, journal, atomic writes).
import { posix } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Host } from '../../hosts/host.js';
import { KpkiError, UsageError, remedy } from '../../errors.js';
import { Certificate, certificateToPem, isSignedBy, keyMatchesCertificate, parseCertificate } from '../../pki/certificate.js';
import {
  generatePrivateKey,
  isSupportedAlgorithm,
  KeyAlgorithm,
  keyAlgorithmOf,
  parsePrivateKey,
  privateKeyToPem,
} from '../../pki/keys.js';
import { FileWrite, fileWrite, KEY_MODE, slotWriter } from '../renew/index.js';
import { CertEntry, NodeScan, pendingKeyPath } from '../scan/index.js';

export const CSR_MANIFEST = 'csr.json';

/** One request as `csr.json` records it: what the signed certificate must be, and where its key waits. */
export interface CsrRequest {
  name: string;
  /** The request, relative to the node's directory: `<base>.csr` (`etcd/server.csr`) or `<kubeconfig>.csr`. */
  csr: string;
  /** Where the signed certificate is expected, beside the request. */
  crt: string;
  /** The pending key on the node (absent with --keys-local). */
  keyOnNode?: string;
  /** With --keys-local: the pending key beside the request instead (relative to the node's directory, 0600). */
  keyLocal?: string;
  keyAlgorithm: KeyAlgorithm;
  subject: string;
  /** The subject as DER, base64: the signed certificate must carry it byte for byte. */
  subjectDer: string;
  dnsNames: string[];
  ipAddresses: string[];
  extKeyUsages: string[];
  /** The CA that must sign it, and its subject. */
  ca: string;
  caSubject: string;
}

export interface CsrManifest {
  kind: 'KpkiCertificateRequests';
  node: string;
  createdAt: string;
  requests: CsrRequest[];
}

/** The file name a request gets: kubeadm's own names (`apiserver.csr`, `etcd/server.csr`, `admin.conf.csr`). */
function requestFile(scan: NodeScan, entry: CertEntry): string {
  if (entry.slot.kind === 'pair') {
    const rel = posix.relative(scan.certDir, entry.slot.certPath);
    const inside = !rel.startsWith('..') && !posix.isAbsolute(rel);
    return `${(inside ? rel : posix.basename(entry.slot.certPath)).replace(/\.(crt|pem)$/, '')}.csr`;
  }
  return `${posix.basename(entry.path)}.csr`;
}

/** The certificates an external CA can renew here: a cluster CA signs them, in a key pair or a kubeconfig. */
export function csrTargets(scan: NodeScan, names: string[]): CertEntry[] {
  const eligible = (e: CertEntry) =>
    Boolean(e.cert && e.expectedCa && pendingKeyPath(e) !== undefined && scan.cas.some((c) => c.name === e.expectedCa && c.cert));
  if (names.length === 0 || names.includes('all')) return scan.entries.filter(eligible);
  return names.map((name) => {
    const entry = scan.entries.find((e) => e.name === name);
    if (!entry)
      throw new UsageError(
        `no certificate named "${name}" on this node`,
        `known here: all, ${scan.entries
          .filter(eligible)
          .map((e) => e.name)
          .join(', ')}`,
      );
    if (!eligible(entry))
      throw new UsageError(
        `${name} (${entry.path}) is not signed by a cluster CA in a key pair or kubeconfig: kpki csr does not make requests for it`,
      );
    return entry;
  });
}

export interface CsrPlan {
  manifest: CsrManifest;
  /** Request file → PEM. */
  requests: Map<string, string>;
  /** The pending keys, written on the node (none with --keys-local). */
  writes: FileWrite[];
  /** With --keys-local: key file (relative to the node's directory) → PEM, kept on the operator's side. */
  localKeys: Map<string, string>;
}

export async function planCsrs(
  host: Host,
  scan: NodeScan,
  node: string,
  names: string[],
  o: { keyAlgorithm?: string; now: Date; keysLocal?: boolean },
): Promise<CsrPlan> {
  if (o.keyAlgorithm && !isSupportedAlgorithm(o.keyAlgorithm))
    throw new UsageError(`unknown key algorithm "${o.keyAlgorithm}"`, 'use RSA-2048, RSA-3072, RSA-4096, ECDSA-P256 or ECDSA-P384');
  const targets = csrTargets(scan, names);
  const { requestFor } = await import('../../pki/csr.js');
  const made = await Promise.all(
    targets.map(async (entry) => {
      const old = entry.cert!;
      const algorithm = (o.keyAlgorithm ?? (isSupportedAlgorithm(old.keyAlgorithm) ? old.keyAlgorithm : 'RSA-2048')) as KeyAlgorithm;
      const key = await generatePrivateKey(algorithm);
      return { entry, old, key, algorithm, pem: await requestFor(old, key) };
    }),
  );
  const plan: CsrPlan = {
    manifest: { kind: 'KpkiCertificateRequests', node, createdAt: o.now.toISOString(), requests: [] },
    requests: new Map(),
    writes: [],
    localKeys: new Map(),
  };
  for (const { entry, old, key, algorithm, pem } of made) {
    const csr = requestFile(scan, entry);
    const where = await placePendingKey(host, entry, csr, key, plan, o.keysLocal);
    const ca = scan.cas.find((c) => c.name === entry.expectedCa)!;
    plan.requests.set(csr, pem);
    plan.manifest.requests.push({
      name: entry.name,
      csr,
      crt: csr.replace(/\.csr$/, '.crt'),
      ...where,
      keyAlgorithm: algorithm,
      subject: old.subject,
      subjectDer: old.subjectDer.toString('base64'),
      dnsNames: old.dnsNames,
      ipAddresses: old.ipAddresses,
      extKeyUsages: old.extKeyUsages,
      ca: ca.name,
      caSubject: ca.cert!.subject,
    });
  }
  return plan;
}

/**
 * The pending key goes on the node beside the certificate (<key>.next), or with --keys-local beside the request as
 * kubeadm's generate-csr leaves it (<name>.key).
 */
async function placePendingKey(
  host: Host,
  entry: CertEntry,
  csr: string,
  key: KeyObject,
  plan: CsrPlan,
  keysLocal?: boolean,
): Promise<{ keyOnNode?: string; keyLocal?: string }> {
  if (keysLocal) {
    const keyLocal = csr.replace(/\.csr$/, '.key');
    plan.localKeys.set(keyLocal, privateKeyToPem(key));
    return { keyLocal };
  }
  const keyOnNode = pendingKeyPath(entry)!;
  // (a key alone: read back byte for byte, not checked against a certificate it does not have yet)
  plan.writes.push({
    ...(await fileWrite(host, keyOnNode, privateKeyToPem(key), KEY_MODE, `${entry.name} (pending key)`)),
    format: 'text',
  } as FileWrite);
  return { keyOnNode };
}

/** The signed certificates (and --keys-local keys), read by the caller: request's `crt` or `keyLocal` → bytes (undefined: not there). */
export type SignedFiles = Map<string, Buffer | undefined>;

export interface ImportPlan {
  items: {
    name: string;
    path: string;
    ca: string;
    notBefore: Date;
    notAfter: Date;
    oldNotAfter?: Date;
    keyAlgorithm: KeyAlgorithm;
    oldKeyAlgorithm?: string;
  }[];
  writes: FileWrite[];
}

/**
 * What the node itself says a request for `entry` is: its files (kubeadm's names), where its pending key waits, the
 * CA that must sign it and the certificate whose subject, names and usages it must carry. csr.json only labels which
 * certificates were requested; it is never the authority on any of this (a request directory is often a shared drop
 * box).
 */
function expectedRequest(scan: NodeScan, entry: CertEntry) {
  const csr = requestFile(scan, entry);
  return {
    csr,
    crt: csr.replace(/\.csr$/, '.crt'),
    keyLocal: csr.replace(/\.csr$/, '.key'),
    keyOnNode: pendingKeyPath(entry)!,
    ca: scan.cas.find((c) => c.name === entry.expectedCa)!,
    current: entry.cert!,
  };
}
type Expected = ReturnType<typeof expectedRequest>;

/** The node's entry a request names, and what it must be; a request that says otherwise is refused. */
function requestedEntry(scan: NodeScan, request: CsrRequest, seen: Set<string>): { entry: CertEntry; expected: Expected } {
  const refuse = (why: string): never => {
    throw new KpkiError(`csr.json (${String(request?.name)}): ${why}: nothing was imported`, {
      hint: 'csr.json is written by kpki csr and must stay as it wrote it',
      remedies: [remedy('make new requests', 'csr')],
    });
  };
  if (typeof request?.name !== 'string') return refuse('a request without a certificate name');
  if (seen.has(request.name)) refuse('the certificate is requested twice');
  seen.add(request.name);
  const entry = scan.entries.find((e) => e.name === request.name);
  if (!entry) return refuse('no such certificate on this node any more');
  if (!csrTargets(scan, []).includes(entry)) refuse(`${entry.path} is not one kpki csr makes requests for`);
  const expected = expectedRequest(scan, entry);
  const differs = (what: string, given: unknown, own: string) =>
    given !== own && refuse(`its ${what} is ${JSON.stringify(given)}, but kpki's for ${entry.name} is ${JSON.stringify(own)}`);
  differs('request file', request.csr, expected.csr);
  differs('certificate file', request.crt, expected.crt);
  differs('signing CA', request.ca, expected.ca.name);
  if (request.keyOnNode === undefined && request.keyLocal === undefined) refuse('it names no pending key');
  if (request.keyOnNode !== undefined) differs('pending key', request.keyOnNode, expected.keyOnNode);
  else differs('pending key', request.keyLocal, expected.keyLocal);
  return { entry, expected };
}

/**
 * Every signed certificate checked before anything is written, against the node's own scan: the node's CA for that
 * certificate signed it (the issuer is that CA's subject byte for byte), it carries the current certificate's
 * subject, names and usages and is no CA, it belongs to the pending key kpki left at its own path (a key of no other
 * certificate of the node), and it is valid now. One that fails refuses the whole import, naming its file.
 */
export async function planImport(host: Host, scan: NodeScan, manifest: CsrManifest, signed: SignedFiles, now: Date): Promise<ImportPlan> {
  const plan: ImportPlan = { items: [], writes: [] };
  const seen = new Set<string>();
  for (const request of manifest.requests) {
    const { entry, expected } = requestedEntry(scan, request, seen);
    const bytes = signed.get(expected.crt);
    if (!bytes)
      throw new KpkiError(`${expected.crt}: the signed certificate for ${entry.name} is missing: nothing was imported`, {
        hint: `put the certificate the CA signed for ${expected.csr} there`,
      });
    const onNode = request.keyOnNode !== undefined;
    const key = await pendingKey(host, scan, entry, onNode ? expected.keyOnNode : undefined, signed.get(expected.keyLocal), expected);
    const cert = judgeSigned(entry, expected, bytes, key, now);
    plan.items.push({
      name: entry.name,
      path: entry.path,
      ca: expected.ca.name,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      oldNotAfter: entry.cert?.notAfter,
      keyAlgorithm: keyAlgorithmOf(key) as KeyAlgorithm,
      oldKeyAlgorithm: entry.cert?.keyAlgorithm,
    });
    plan.writes.push(...(await installWrites(host, scan, entry, certificateToPem(cert), privateKeyToPem(key))));
    if (onNode) plan.writes.push({ kind: 'remove', path: expected.keyOnNode, entry: entry.name });
  }
  return plan;
}

/**
 * The pending key: on the node at the path kpki chose for this certificate (csr.json may not choose it), or with
 * --keys-local beside the request. It must be a key no certificate of the node holds: a CA's or another leaf's key
 * put there is refused, never installed nor removed.
 */
async function pendingKey(
  host: Host,
  scan: NodeScan,
  entry: CertEntry,
  keyOnNode: string | undefined,
  local: Buffer | undefined,
  expected: Expected,
): Promise<KeyObject> {
  let text: Buffer;
  if (keyOnNode === undefined) {
    if (!local)
      throw new KpkiError(`${expected.keyLocal}: the pending key of ${entry.name} is missing: nothing was imported`, {
        hint: 'kpki csr --keys-local left it beside the request; it must stay there until the import',
      });
    text = local;
  } else {
    try {
      text = await host.readFile(keyOnNode);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new KpkiError(
        `${host.describe(keyOnNode)}: the pending key of ${entry.name} ${code === 'ENOENT' ? 'is not there' : `cannot be read (${(err as Error).message})`}: nothing was imported`,
        {
          path: keyOnNode,
          hint: 'a request is imported on the node it was made on, once',
          remedies: [remedy('make new requests', 'csr')],
        },
      );
    }
  }
  const where = keyOnNode ? host.describe(keyOnNode) : expected.keyLocal;
  let key: KeyObject;
  try {
    key = parsePrivateKey(text);
  } catch (err) {
    throw new KpkiError(
      `${where}: the pending key of ${entry.name} is not a private key (${(err as Error).message}): nothing was imported`,
    );
  }
  const holder = [
    ...scan.cas.map((c) => ({ name: `the ${c.name} CA`, cert: c.cert })),
    ...scan.entries.map((e) => ({ name: e.name, cert: e.cert })),
  ].find((c) => c.cert && keyMatchesCertificate(c.cert, key));
  if (holder)
    throw new KpkiError(
      `${where}: the pending key of ${entry.name} is the key of ${holder.name}, not a new key kpki csr made: nothing was imported`,
      { remedies: [remedy('make new requests', 'csr')] },
    );
  return key;
}

function judgeSigned(entry: CertEntry, expected: Expected, bytes: Buffer, key: KeyObject, now: Date): Certificate {
  const refuse = (why: string): never => {
    throw new KpkiError(`${expected.crt} (${entry.name}): ${why}: nothing was imported`);
  };
  let cert: Certificate;
  try {
    cert = parseCertificate(bytes);
  } catch (err) {
    return refuse(`not a certificate (${(err as Error).message})`);
  }
  const ca = expected.ca.cert!;
  const current = expected.current;
  if (!cert.issuerDer.equals(ca.subjectDer) || !isSignedBy(cert, ca))
    refuse(`not signed by the node's ${expected.ca.name} CA (${ca.subject}); its issuer is "${cert.issuer}"`);
  if (!keyMatchesCertificate(cert, key))
    refuse(`it is not for the pending key of ${entry.name} (a request made elsewhere, or another one's certificate)`);
  if (cert.isCA) refuse('it is a CA certificate (basicConstraints CA:TRUE), not a leaf');
  if (!cert.subjectDer.equals(current.subjectDer)) refuse(`its subject "${cert.subject}" is not ${entry.name}'s "${current.subject}"`);
  const same = (a: string[], b: string[]) => [...a].sort().join() === [...b].sort().join();
  if (!same(cert.dnsNames, current.dnsNames) || !same(cert.ipAddresses, current.ipAddresses))
    refuse(
      `its names (${[...cert.dnsNames, ...cert.ipAddresses].join(', ') || 'none'}) are not ${entry.name}'s ${[...current.dnsNames, ...current.ipAddresses].join(', ') || 'none'}`,
    );
  const missing = current.extKeyUsages.filter((u) => !cert.extKeyUsages.includes(u));
  if (missing.length) refuse(`it lacks the usage ${missing.join(', ')}`);
  if (cert.notBefore.getTime() > now.getTime() + 5 * 60_000) refuse(`it is not valid before ${cert.notBefore.toISOString()}`);
  if (cert.notAfter.getTime() <= now.getTime() + 3600_000) refuse(`it expires ${cert.notAfter.toISOString()}, within the hour`);
  return cert;
}

/** The files the certificate and its key go into, as renewal writes them (modes and owners kept, no symlinks). */
async function installWrites(host: Host, scan: NodeScan, entry: CertEntry, certPem: string, keyPem: string): Promise<FileWrite[]> {
  const caPem = scan.cas.find((c) => c.name === entry.expectedCa)?.cert;
  return slotWriter(entry.slot).writes(host, entry, {
    certPem,
    keyPem,
    caPem: caPem ? certificateToPem(caPem) : undefined,
    notBefore: new Date(),
  });
}
