// Renewal plan: which entries to renew, why, with which key and validity. Plain data: --dry-run prints it.
import { isSupportedAlgorithm, KeyAlgorithm } from '../../pki/keys.js';
import type { Certificate } from '../../pki/certificate.js';
import { humanDuration } from '../../util/duration.js';
import { CaEntry, CertEntry, NodeScan, OWN_CA, SELF_SIGNED } from '../scan/index.js';
import { posix } from 'node:path';
import { isIP } from 'node:net';
import { KpkiError, UsageError, remedy } from '../../errors.js';
import { secretMode } from '../../hosts/secret-modes.js';

export const DEFAULT_VALIDITY_MS = 365 * 86_400_000;
export const BACKDATE_MS = 5 * 60_000;
/** client-go's GenerateSelfSignedCertKey (the kubelet's own serving certificate) backdates by an hour. */
export const OWN_CA_BACKDATE_MS = 3600_000;

export interface PlanItem {
  name: string;
  path: string;
  reason: string;
  signer: string;
  oldNotAfter: Date;
  newNotBefore: Date;
  newNotAfter: Date;
  /** notAfter was cut to the CA's own notAfter. */
  capped: boolean;
  reuseKey: boolean;
  keyAlgorithm: KeyAlgorithm;
  oldKeyAlgorithm: string;
  /** Certificates after the leaf in its file (its chain): written again after the new leaf, unchanged. */
  keepsChain: number;
  /** The names the new certificate carries, when they change (kpki san); otherwise the old ones. */
  sans?: { dnsNames: string[]; ipAddresses: string[] };
}

/** Names added to or removed from a certificate ("DNS:lb.example", "IP:10.0.0.5"). */
export interface SanChange {
  cert: 'apiserver' | 'etcd-server' | 'etcd-peer';
  add: string[];
  remove: string[];
}

export interface RenewalPlan {
  node: string;
  items: PlanItem[];
  /** Files holding private keys readable by group or others: made 0600 (never loosened), renewed or not. */
  modeChanges: { path: string; from: number; to: number; entry: string }[];
  skipped: { name: string; reason: string }[];
  validityMs: number;
  validitySource: string;
  warnings: string[];
}

export interface PlanOptions {
  names: string[];
  ifExpiresWithinMs?: number;
  validityMs?: number;
  reuseKeys?: boolean;
  keyAlgorithm?: string;
  now: Date;
  /** Accept a validity (or what the CA's own expiry leaves of it) shorter than MIN_VALIDITY_MS. */
  allowShortValidity?: boolean;
  /** Change a certificate's names (it alone is planned, whatever its expiry). */
  sans?: SanChange;
}

/** Shorter than this is a typo (--validity 0d, 1s), not a plan: refused unless --force. */
export const MIN_VALIDITY_MS = 3600_000;

const ALIASES: Record<string, string[]> = {
  'kubelet.conf': ['kubelet.conf', 'kubelet-client'],
  'kubelet-client': ['kubelet-client', 'kubelet.conf'],
};

export function planRenewal(scan: NodeScan, options: PlanOptions): RenewalPlan {
  const warnings: string[] = [];
  const { validityMs, validitySource } = validityOf(scan, options);
  if (validityMs < MIN_VALIDITY_MS && !options.allowShortValidity) {
    throw new UsageError(
      `validity ${humanDuration(validityMs)} (${validitySource}) is shorter than an hour: the new certificates would expire almost at once`,
      'give a longer --validity, or --force if you mean it',
    );
  }
  if (options.keyAlgorithm && !isSupportedAlgorithm(options.keyAlgorithm)) {
    throw new UsageError(`unknown key algorithm "${options.keyAlgorithm}"`, 'use RSA-2048, RSA-3072, RSA-4096, ECDSA-P256 or ECDSA-P384');
  }
  if (options.sans) return planSanChange(scan, options, options.sans, { validityMs, validitySource });
  const all = options.names.length === 0 || options.names.includes('all');
  const targets = all ? scan.entries : options.names.map((name) => findEntry(scan, name));
  const skipped: RenewalPlan['skipped'] = [];
  const items: PlanItem[] = [];
  for (const entry of targets) {
    const refusal = refusalOf(scan, entry, options);
    if (refusal && !(all && refusal.unmanaged)) throw refusal.error;
    if (refusal) {
      // a certificate no CA of this node signed is not kpki's to renew: it never blocks the others
      skipped.push({ name: entry.name, reason: refusal.error.message });
      warnings.push(`${refusal.error.message}: left as it is`);
      continue;
    }
    if (!entry.renewable || !entry.cert) {
      if (!all)
        throw new KpkiError(`cannot renew ${entry.name} (${entry.path}): ${entry.notRenewable}`, {
          path: entry.path,
          hint: hintFor(entry),
        });
      skipped.push({ name: entry.name, reason: entry.notRenewable ?? 'not renewable' });
      continue;
    }
    const left = entry.cert.notAfter.getTime() - options.now.getTime();
    if (options.ifExpiresWithinMs !== undefined && left > options.ifExpiresWithinMs) {
      skipped.push({
        name: entry.name,
        reason: `expires in ${humanDuration(left)}, outside --if-expires-within ${humanDuration(options.ifExpiresWithinMs)}`,
      });
      continue;
    }
    items.push(planItem(scan, entry, entry.cert, left, validityMs, options, warnings));
  }
  // every file holding a private key is left readable by its owner only, renewed or not (CA keys, sa.key too)
  const modeChanges = (scan.files ?? [])
    .filter((f) => f.code === 'loose-mode' && f.kind === 'private')
    .map((f) => ({ path: f.path, from: f.mode, to: secretMode(f.mode), entry: f.entry ?? posix.basename(f.path) }));
  return { node: scan.node, items, modeChanges, skipped, validityMs, validitySource, warnings };
}

/** One certificate's renewal: its signer, dates (capped at the CA's expiry), key policy. */
function planItem(
  scan: NodeScan,
  entry: CertEntry,
  cert: Certificate,
  left: number,
  validityMs: number,
  options: PlanOptions,
  warnings: string[],
): PlanItem {
  const signer = scan.cas.find((c) => c.name === entry.signer) as CaEntry | undefined;
  if (signer?.cert) refuseUnusableCa(signer, entry, options);
  const backdateMs = entry.signer === OWN_CA ? OWN_CA_BACKDATE_MS : BACKDATE_MS;
  const notBefore = new Date(options.now.getTime() - backdateMs);
  const wanted = entry.signer === OWN_CA ? new Date(notBefore.getTime() + validityMs) : new Date(options.now.getTime() + validityMs);
  const caEnd = signer?.cert?.notAfter ?? wanted;
  const capped = wanted.getTime() > caEnd.getTime();
  if (capped) warnings.push(`${entry.name}: validity capped at the ${signer!.name} CA's own expiry ${caEnd.toISOString()}`);
  if (capped && caEnd.getTime() - options.now.getTime() < MIN_VALIDITY_MS && !options.allowShortValidity) {
    throw new KpkiError(
      `${entry.name}: the ${signer!.name} CA (${signer!.certPath}) expires ${caEnd.toISOString()}, within the hour: what it signs now would expire with it`,
      {
        path: signer!.certPath,
        hint: "the cluster needs a new CA (kubeadm documents a manual CA rotation); --force renews up to the CA's expiry anyway",
      },
    );
  }
  const oldAlg = cert.keyAlgorithm;
  const keyAlgorithm = (options.keyAlgorithm ?? (isSupportedAlgorithm(oldAlg) ? oldAlg : 'RSA-2048')) as KeyAlgorithm;
  if (!options.keyAlgorithm && !isSupportedAlgorithm(oldAlg))
    warnings.push(`${entry.name}: key ${oldAlg} is not one kubeadm makes; the new key is RSA-2048`);
  const reuseKey = Boolean(options.reuseKeys) && !options.keyAlgorithm;
  if (options.reuseKeys && options.keyAlgorithm) warnings.push('--key-algorithm makes new keys; --reuse-keys is ignored');
  return {
    name: entry.name,
    path: entry.path,
    reason: reasonOf(left, options),
    signer: signer?.name ?? (entry.signer === OWN_CA ? OWN_CA : SELF_SIGNED),
    oldNotAfter: cert.notAfter,
    newNotBefore: notBefore,
    newNotAfter: capped ? caEnd : wanted,
    capped,
    reuseKey,
    keyAlgorithm: reuseKey ? (oldAlg as KeyAlgorithm) : keyAlgorithm,
    oldKeyAlgorithm: oldAlg,
    keepsChain: entry.signer !== OWN_CA ? (entry.chain?.length ?? 0) : 0,
  };
}

/** A certificate whose names change: planned alone, whatever its expiry; nothing when the names are already so. */
function planSanChange(
  scan: NodeScan,
  options: PlanOptions,
  change: SanChange,
  validity: { validityMs: number; validitySource: string },
): RenewalPlan {
  const warnings: string[] = [];
  const entry = findEntry(scan, change.cert);
  const refusal = refusalOf(scan, entry, options);
  if (refusal) throw refusal.error;
  if (!entry.renewable || !entry.cert)
    throw new KpkiError(`cannot change the names of ${entry.name} (${entry.path}): ${entry.notRenewable}`, {
      path: entry.path,
      hint: hintFor(entry),
    });
  const old = { dnsNames: entry.cert.dnsNames, ipAddresses: entry.cert.ipAddresses };
  const sans = { dnsNames: [...old.dnsNames], ipAddresses: [...old.ipAddresses] };
  for (const name of change.remove) {
    const [kind, value] = splitSan(name);
    const list = kind === 'DNS' ? sans.dnsNames : sans.ipAddresses;
    if (list.includes(value)) list.splice(list.indexOf(value), 1);
    else warnings.push(`${entry.name} does not carry ${name}: nothing to remove`);
  }
  for (const name of change.add) {
    const [kind, value] = splitSan(name);
    const list = kind === 'DNS' ? sans.dnsNames : sans.ipAddresses;
    if (list.includes(value)) warnings.push(`${entry.name} already carries ${name}`);
    else list.push(value);
  }
  const base = { node: scan.node, modeChanges: [], skipped: [], ...validity, warnings };
  if (sans.dnsNames.join() === old.dnsNames.join() && sans.ipAddresses.join() === old.ipAddresses.join()) return { ...base, items: [] };
  const left = entry.cert.notAfter.getTime() - options.now.getTime();
  const item = planItem(scan, entry, entry.cert, left, validity.validityMs, options, warnings);
  return { ...base, items: [{ ...item, reason: `names: ${describeSanChange(change)}`, sans }] };
}

/** "DNS:lb.example" → ["DNS", "lb.example"]; an IP is normalised as the certificate holds it. */
export function splitSan(name: string): ['DNS' | 'IP', string] {
  const m = /^(DNS|IP):(.+)$/i.exec(name);
  if (!m) throw new UsageError(`"${name}" is not DNS:NAME or IP:ADDRESS`);
  const kind = m[1].toUpperCase() as 'DNS' | 'IP';
  if (kind === 'IP' && isIP(m[2]) === 0) throw new UsageError(`"${m[2]}" is not an IP address`);
  if (kind === 'DNS' && !/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(m[2]))
    throw new UsageError(`"${m[2]}" is not a DNS name`);
  return [kind, kind === 'IP' && isIP(m[2]) === 6 ? expandIpv6(m[2]) : m[2]];
}

/** How Go prints an IPv6 SAN back (and so kpki's reader): the shortest form. */
function expandIpv6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

export const describeSanChange = (c: SanChange) => [...c.add.map((n) => `+${n}`), ...c.remove.map((n) => `-${n}`)].join(' ');

/** A CA that is expired or not yet valid signs nothing: everything it signed is rejected, renewed or not. */
function refuseUnusableCa(signer: CaEntry, entry: CertEntry, options: PlanOptions): void {
  const ca = signer.cert!;
  const file = signer.certPath;
  const type = signer.key?.asymmetricKeyType ?? ca.publicKey.asymmetricKeyType;
  if (type !== 'rsa' && type !== 'ec') {
    throw new KpkiError(
      `${entry.name}: its CA ${signer.name} has a ${type} key (${signer.keyPath}): kubeadm's CAs are RSA or ECDSA, and kpki signs only with those`,
      { path: signer.keyPath },
    );
  }
  if (ca.notAfter.getTime() <= options.now.getTime()) {
    throw new KpkiError(
      `${entry.name}: its CA ${signer.name} (${file}) expired on ${ca.notAfter.toISOString()}: kpki does not sign with an expired CA (every client would reject the result)`,
      {
        path: file,
        hint: 'the cluster needs a new CA: rotate it (kubeadm documents a manual CA rotation), then renew everything it signs',
      },
    );
  }
  if (ca.notBefore.getTime() > options.now.getTime()) {
    throw new KpkiError(
      `${entry.name}: its CA ${signer.name} (${file}) is not valid before ${ca.notBefore.toISOString()}: is this machine's clock right?`,
      { path: file },
    );
  }
}

function validityOf(scan: NodeScan, options: PlanOptions): { validityMs: number; validitySource: string } {
  if (options.validityMs !== undefined) return { validityMs: options.validityMs, validitySource: '--validity' };
  if (scan.settings?.certificateValidityMs) {
    return {
      validityMs: scan.settings.certificateValidityMs,
      validitySource: `certificateValidityPeriod in ${scan.settingsPath}`,
    };
  }
  return { validityMs: DEFAULT_VALIDITY_MS, validitySource: 'kubeadm default (1 year)' };
}

function reasonOf(left: number, options: PlanOptions): string {
  if (left <= 0) return `expired ${humanDuration(-left)} ago`;
  if (options.ifExpiresWithinMs !== undefined)
    return `expires in ${humanDuration(left)}, within ${humanDuration(options.ifExpiresWithinMs)}`;
  return 'requested';
}

function findEntry(scan: NodeScan, name: string): CertEntry {
  for (const candidate of ALIASES[name] ?? [name]) {
    const entry = scan.entries.find((e) => e.name === candidate);
    if (entry) return entry;
  }
  if (scan.cas.some((c) => c.name === name) || name === 'sa' || name.startsWith('sa.')) {
    throw new UsageError(`${name} is a CA or the service-account key: kpki renew never changes those`);
  }
  const known = scan.entries.map((e) => e.name).join(', ');
  throw new UsageError(`no certificate named "${name}" on this node`, `known here: all, ${known}`);
}

/**
 * Problems that make the tree unsafe to touch: fail with the file and what to do, write nothing. `unmanaged`: the
 * entry is not one kpki would write (no CA of the node signed it), so `all` passes it by instead of refusing.
 */
function refusalOf(scan: NodeScan, entry: CertEntry, options: PlanOptions): { error: KpkiError; unmanaged?: boolean } | undefined {
  const refuse = (error: KpkiError, unmanaged = false) => ({ error, unmanaged });
  const notUtf8 = entry.problems.find((p) => p.code === 'not-utf8');
  if (notUtf8)
    return refuse(
      new KpkiError(notUtf8.message, {
        path: entry.path,
        hint: 'convert the file to UTF-8 (iconv) or remove the characters, then run again',
      }),
    );
  const unreadable = entry.problems.find((p) => p.code === 'unreadable');
  if (unreadable)
    return refuse(
      new KpkiError(`cannot read ${unreadable.message}`, {
        path: entry.path,
        hint: 'repair or restore this file, then run again',
        remedies: [remedy('the backups', 'backups'), remedy('restore one', 'restore', 'ID')],
      }),
    );
  if (!entry.cert) return undefined;
  const mismatch = entry.problems.find((p) => p.code === 'key-mismatch');
  // a deliberate new key (--key-algorithm) replaces the key that does not match, as the hint below says
  if (mismatch && !options.keyAlgorithm) {
    return refuse(
      new KpkiError(`${entry.name}: ${mismatch.message}`, {
        path: entry.path,
        remedies: [
          remedy('put back the key that belongs to this certificate', 'restore', 'ID'),
          remedy(
            'or make a new one deliberately',
            'renew',
            entry.name,
            '--key-algorithm',
            isSupportedAlgorithm(entry.cert.keyAlgorithm) ? entry.cert.keyAlgorithm : 'RSA-2048',
          ),
        ],
      }),
    );
  }
  if (entry.problems.some((p) => p.code === 'not-signed-by-ca')) {
    const error = new KpkiError(`${entry.name}: ${entry.path} is not signed by any CA on this node (issuer "${entry.cert.issuer}")`, {
      path: entry.path,
      hint: 'check that the CA files in the certificates directory belong to this cluster',
    });
    // outside kubeadm's catalog (no CA is expected to have signed it): not kpki's to renew, never a reason to stop
    return refuse(error, !entry.expectedCa);
  }
  const badChain = entry.problems.find((p) => p.code === 'chain-invalid');
  if (badChain)
    return refuse(
      new KpkiError(`${entry.name}: ${badChain.message}`, {
        path: entry.path,
        hint: 'a CA that may sign certificates is needed first (check which CA files belong to this cluster)',
      }),
      !entry.expectedCa,
    );
  const signer = scan.cas.find((c) => c.name === entry.signer);
  const caProblem = signer?.problems.find((p) => p.code === 'unreadable' || p.code === 'key-mismatch');
  if (caProblem)
    return refuse(
      new KpkiError(`CA ${signer!.name}: ${caProblem.message}`, {
        path: signer!.keyPath,
        hint: 'restore the CA key of this cluster before renewing',
      }),
    );
  return undefined;
}

function hintFor(entry: CertEntry): string | undefined {
  if (entry.missing)
    return 'kpki renews existing certificates; create missing ones with `kubeadm init phase certs` / `kubeadm init phase kubeconfig`';
  if (entry.notRenewable?.includes('externally managed')) return 'the CA key is not on this node: renew it where the CA key is kept';
  return undefined;
}
