// External CA mode: the CA key is not on the node. `kpki csr` leaves a new key on the node beside the certificate
// (`<key>.next`, 0600) and hands out a request with exactly the current certificate's subject and SANs; the CA's
// owners sign it; `kpki import` checks every signed certificate against what was asked and what the node trusts,
// and only if all of them pass installs them with their pending keys (backup, journal, atomic writes).
import { posix } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Host } from '../hosts/host.js';
import { KpkiError, UsageError } from '../errors.js';
import { withEmbeddedCredentials } from '../kubeadm/kubeconfig.js';
import { Certificate, certificateToPem, isSignedBy, keyMatchesCertificate, parseCertificate } from '../pki/certificate.js';
import { generatePrivateKey, isSupportedAlgorithm, KeyAlgorithm, keyAlgorithmOf, parsePrivateKey, privateKeyToPem } from '../pki/keys.js';
import { CERT_MODE, FileWrite, fileWrite, KEY_MODE, KUBECONFIG_MODE } from './materialize.js';
import { CertEntry, NodeScan, pendingKeyPath } from './scan-result.js';

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
    Boolean(
      e.cert &&
        e.expectedCa &&
        (e.slot.kind === 'pair' || e.slot.kind === 'kubeconfig') &&
        scan.cas.some((c) => c.name === e.expectedCa && c.cert),
    );
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
  const { requestFor } = await import('../pki/csr.js');
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
 * Every signed certificate checked before anything is written: it parses, the node's CA signed it (the issuer is that
 * CA's subject byte for byte), it carries the requested subject, SANs and usages, it belongs to the pending key, and it
 * is valid now. One that fails refuses the whole import, naming its file.
 */
export async function planImport(host: Host, scan: NodeScan, manifest: CsrManifest, signed: SignedFiles, now: Date): Promise<ImportPlan> {
  const plan: ImportPlan = { items: [], writes: [] };
  for (const request of manifest.requests) {
    const entry = scan.entries.find((e) => e.name === request.name);
    if (!entry) throw new KpkiError(`${request.name} is not on this node any more: nothing was imported`);
    const bytes = signed.get(request.crt);
    if (!bytes)
      throw new KpkiError(`${request.crt}: the signed certificate for ${request.name} is missing: nothing was imported`, {
        hint: `put the certificate the CA signed for ${request.csr} there`,
      });
    const key = await pendingKey(host, request, signed);
    const cert = judgeSigned(request, scan, bytes, key, now);
    const certPem = certificateToPem(cert);
    plan.items.push({
      name: request.name,
      path: entry.path,
      ca: request.ca,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      oldNotAfter: entry.cert?.notAfter,
      keyAlgorithm: request.keyAlgorithm,
      oldKeyAlgorithm: entry.cert?.keyAlgorithm,
    });
    plan.writes.push(...(await installWrites(host, scan, entry, certPem, privateKeyToPem(key))));
    if (request.keyOnNode) plan.writes.push({ kind: 'remove', path: request.keyOnNode, entry: request.name });
  }
  return plan;
}

async function pendingKey(host: Host, request: CsrRequest, signed: SignedFiles): Promise<KeyObject> {
  if (!request.keyOnNode) {
    const local = request.keyLocal ? signed.get(request.keyLocal) : undefined;
    if (!local)
      throw new KpkiError(`${request.keyLocal ?? request.name}: the pending key of ${request.name} is missing: nothing was imported`, {
        hint: 'kpki csr --keys-local left it beside the request; it must stay there until the import',
      });
    return parsePrivateKey(local);
  }
  let text: Buffer;
  try {
    text = await host.readFile(request.keyOnNode);
  } catch {
    throw new KpkiError(`${host.describe(request.keyOnNode)}: the pending key of ${request.name} is not there: nothing was imported`, {
      path: request.keyOnNode,
      hint: 'a request is imported on the node it was made on, once: make new requests with kpki csr',
    });
  }
  return parsePrivateKey(text);
}

function judgeSigned(request: CsrRequest, scan: NodeScan, bytes: Buffer, key: KeyObject, now: Date): Certificate {
  const refuse = (why: string): never => {
    throw new KpkiError(`${request.crt} (${request.name}): ${why}: nothing was imported`);
  };
  let cert: Certificate;
  try {
    cert = parseCertificate(bytes);
  } catch (err) {
    return refuse(`not a certificate (${(err as Error).message})`);
  }
  const ca = scan.cas.find((c) => c.name === request.ca)?.cert;
  if (!ca) return refuse(`the CA ${request.ca} is not on this node to check it against`);
  if (!cert.issuerDer.equals(ca.subjectDer) || !isSignedBy(cert, ca))
    refuse(`not signed by the node's ${request.ca} CA (${ca.subject}); its issuer is "${cert.issuer}"`);
  if (!keyMatchesCertificate(cert, key))
    refuse(
      `it is not for the pending key ${request.keyOnNode ?? request.keyLocal} (a request made elsewhere, or another one's certificate)`,
    );
  if (!cert.subjectDer.equals(Buffer.from(request.subjectDer, 'base64')))
    refuse(`its subject "${cert.subject}" is not the requested "${request.subject}"`);
  const same = (a: string[], b: string[]) => [...a].sort().join() === [...b].sort().join();
  if (!same(cert.dnsNames, request.dnsNames) || !same(cert.ipAddresses, request.ipAddresses))
    refuse(
      `its names (${[...cert.dnsNames, ...cert.ipAddresses].join(', ') || 'none'}) are not the requested ${[...request.dnsNames, ...request.ipAddresses].join(', ') || 'none'}`,
    );
  const missing = request.extKeyUsages.filter((u) => !cert.extKeyUsages.includes(u));
  if (missing.length) refuse(`it lacks the usage ${missing.join(', ')}`);
  if (cert.notBefore.getTime() > now.getTime() + 5 * 60_000) refuse(`it is not valid before ${cert.notBefore.toISOString()}`);
  if (cert.notAfter.getTime() <= now.getTime() + 3600_000) refuse(`it expires ${cert.notAfter.toISOString()}, within the hour`);
  if (keyAlgorithmOf(key) !== request.keyAlgorithm) refuse(`the pending key is not ${request.keyAlgorithm} as requested`);
  return cert;
}

/** The files the certificate and its key go into, as renewal writes them (modes and owners kept, no symlinks). */
async function installWrites(host: Host, scan: NodeScan, entry: CertEntry, certPem: string, keyPem: string): Promise<FileWrite[]> {
  if (entry.slot.kind === 'pair') {
    return [
      await fileWrite(host, entry.slot.keyPath, keyPem, KEY_MODE, entry.name),
      await fileWrite(host, entry.slot.certPath, certPem, CERT_MODE, entry.name),
    ];
  }
  const caPem = scan.cas.find((c) => c.name === entry.expectedCa)?.cert;
  const text = withEmbeddedCredentials(entry.kubeconfig!, certPem, keyPem, caPem ? certificateToPem(caPem) : undefined);
  return [await fileWrite(host, entry.path, text, KUBECONFIG_MODE, entry.name, 'kubeconfig')];
}
