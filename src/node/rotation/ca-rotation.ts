// One node's part of a CA rotation (../shared/reference/ca-rotation.md), computed from its files and written by the
// caller in one transaction: trust (the CA file becomes a bundle old + new, the new CA waits beside it as
// <name>-next), issue (the new CA signs: it comes first in the bundle, its key becomes the CA key, every leaf the CA
// signed is re-issued from it), finish (the old CA leaves every bundle). The node's files are its state: a phase
// that already happened plans nothing, so a re-run or a resumed rollout continues where the node is.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { Host } from '../../hosts/host.js';
import { KpkiError } from '../../errors.js';
import { expiredCaMessage, PHASES, type RotatableCa, WRITING_PHASES, type Phase, type WritingPhase } from '../../kubeadm/ca-trust.js';
import { Certificate, certificateToPem, isSignedBy, keyMatchesCertificate, parseCertificates } from '../../pki/certificate.js';
import { parsePrivateKey, privateKeyToPem } from '../../pki/keys.js';
import type { CaPair } from '../../pki/successor-ca.js';
import { FileWrite, fileWrite, KEY_MODE, materialize } from '../renew/index.js';
import { parseKubeconfig, withCertificateAuthorityData } from '../../kubeadm/kubeconfig.js';
import { blastRadius, type TrustPlace } from './ca-blast.js';
import { setExistingFlag } from '../renew/index.js';
import { planRenewal } from '../renew/index.js';
import { readOptional } from '../scan/index.js';
import { NewSigner, PhaseOptions, PhaseWrites, RotationFiles, Stage, StageView, trustOf, withSuffix } from './common.js';
import type { NodeStage } from './phase-decision.js';
import { describeKeyStage, KeyRotationState, keyRotationState, planKeyPhase, stillOldKey } from './sa-rotation.js';
import type { CaEntry, NodeScan } from '../scan/index.js';

export { PHASES, WRITING_PHASES, type Phase, type WritingPhase };
export type { NewSigner, PhaseOptions, PhaseWrites, Stage, StageView };

export type RotationState = CaRotationState | KeyRotationState;

export interface CaRotationState extends StageView {
  kind: 'ca';
  files: RotationFiles;
  /** The CA file's certificates in order: the first one signs (its key is the CA key). */
  certs: Certificate[];
  /** The new CA waiting beside it (trust phase done, issue not yet). */
  next?: Certificate;
  /** Leaves this CA signs and which certificate of the bundle signed each. */
  leaves: { name: string; path: string; signedByFirst: boolean }[];
  /** The signing CA or a leaf of it lacks the key identifiers that tell two CAs of one name apart. */
  needsDistinctName: boolean;
}

function caEntryOf(scan: NodeScan, ca: RotatableCa): CaEntry {
  const entry = scan.cas.find((c) => c.name === ca);
  if (!entry?.cert) throw new KpkiError(`${scan.node}: no ${ca} certificate on this node`, { path: entry?.certPath });
  return entry;
}

export const samePair = (a: Certificate, b: Certificate) => a.der.equals(b.der);

/** The node's rotation state, from its files. */
export function rotationState(host: Host, scan: NodeScan, ca: RotatableCa): Promise<RotationState> {
  return ca === 'sa' ? keyRotationState(host, scan) : caRotationState(host, scan, ca);
}

export const certificateId = (c: Certificate) => createHash('sha256').update(c.der).digest('hex');

async function caRotationState(host: Host, scan: NodeScan, ca: RotatableCa): Promise<CaRotationState> {
  const entry = caEntryOf(scan, ca);
  const files = {
    certPath: entry.certPath,
    keyPath: entry.keyPath,
    nextCertPath: withSuffix(entry.certPath, '-next'),
    nextKeyPath: withSuffix(entry.keyPath, '-next'),
  };
  // (the scan read the whole CA file: the signing certificate first, then the others it trusts)
  const certs = [entry.cert!, ...(entry.alsoTrusted ?? [])];
  const nextFile = await readOptional(host, files.nextCertPath);
  const next = nextFile.ok ? parseCertificates(nextFile.value)[0] : undefined;
  const signed = scan.entries.filter((e) => e.cert && !e.cert.isCA && certs.some((c) => isSignedBy(e.cert!, c)));
  const leaves = signed.map((e) => ({ name: e.name, path: e.path, signedByFirst: isSignedBy(e.cert!, certs[0]) }));
  const needsDistinctName = !certs[0].subjectKeyId || signed.some((e) => !e.cert!.authorityKeyId);
  const stage: Stage = certs.length === 1 ? 'single' : next && certs.some((c) => samePair(c, next)) ? 'trusted' : 'issued';
  return {
    kind: 'ca',
    node: scan.node,
    ca,
    files,
    certs,
    next,
    stage,
    leaves,
    needsDistinctName,
    signerId: certificateId(certs[0]),
    nextId: next && certificateId(next),
  };
}

const pemOf = (certs: Certificate[]) => certs.map(certificateToPem).join('');

async function bundleWrite(host: Host, path: string, certs: Certificate[], entry: string): Promise<FileWrite> {
  return fileWrite(host, path, pemOf(certs), 0o644, entry, 'bundle');
}

/** The CAs a place trusts: a PEM file's certificates, or a kubeconfig's certificate-authority-data. */
async function heldAt(host: Host, place: TrustPlace): Promise<Certificate[]> {
  const text = await host.readFile(place.path);
  if (!place.kubeconfig) return parseCertificates(text);
  return parseCertificates(parseKubeconfig(text.toString('utf8')).certificateAuthorityData ?? '');
}

/** The write that makes a place trust exactly `certs` (a kubeconfig: only its certificate-authority-data changes). */
async function placeWrite(host: Host, place: TrustPlace, certs: Certificate[], entry: string): Promise<FileWrite> {
  if (!place.kubeconfig) return bundleWrite(host, place.path, certs, entry);
  const text = withCertificateAuthorityData(parseKubeconfig((await host.readFile(place.path)).toString('utf8')), pemOf(certs));
  // (its own entry: the written kubeconfig is checked as YAML, its client credentials are not touched)
  return fileWrite(host, place.path, text, 0o600, `${entry}: ${posix.basename(place.path)}`, 'yaml');
}

/**
 * The file a signer reads (the controller-manager's --cluster-signing-cert-file) takes one certificate, never a
 * bundle (it refuses to start, and stops signing when the file changes under it: "expected 1 certificate"). While the
 * CA file is a bundle, the flag names a file of its own beside it.
 */
const signingPathOf = (state: CaRotationState) => withSuffix(state.files.certPath, '-signing');

async function signerMoves(host: Host, signing: TrustPlace[], to: string): Promise<FileWrite[]> {
  const writes: FileWrite[] = [];
  for (const place of signing) {
    if (!place.flag || place.path === to) continue;
    const edit = await setExistingFlag(host, place.flag.manifest, place.flag.name, to);
    if (edit.write) writes.push(edit.write);
  }
  return writes;
}

/** trust: the CA file (and every other file that holds the CA) becomes old + new; the new CA is kept as <name>-next. */
export async function planTrust(
  host: Host,
  scan: NodeScan,
  state: CaRotationState,
  next: CaPair,
  options: PhaseOptions = {},
): Promise<PhaseWrites | undefined> {
  const entry = caEntryOf(scan, state.ca);
  if (state.stage === 'issued')
    throw new KpkiError(
      `${scan.node}: ${state.ca} was already switched to a new CA (${state.files.certPath} holds ${state.certs.length} certificates, the first signs): finish that rotation first`,
    );
  if (state.next && !samePair(state.next, next.cert))
    throw new KpkiError(
      `${scan.node}: another new ${state.ca} is already waiting in ${state.files.nextCertPath}: continue that rotation, or remove the file`,
      {
        path: state.files.nextCertPath,
      },
    );
  if (state.stage === 'single' && !state.next && state.certs[0].notAfter.getTime() <= Date.now())
    throw new KpkiError(`${scan.node}: ${expiredCaMessage(state.ca, state.files.certPath, state.certs[0].notAfter)}`, {
      exitCode: 2,
    });
  if (!entry.keyPresent)
    throw new KpkiError(
      `${scan.node}: the ${state.ca} key ${entry.keyPath} is not on this node (an external CA): kpki rotates only CAs whose key it holds`,
      {
        path: entry.keyPath,
      },
    );
  const trust = await trustOf(host, scan, state);
  const signingHere = trust.signing.filter((p) => p.path === state.files.certPath);
  const signer = `${state.ca} signer (one certificate)`;
  const moves = signingHere.length ? await signerMoves(host, signingHere, signingPathOf(state)) : [];
  // the signer's own file (the CA that signs now, alone) and the flags moved to it
  const signerWrites = signingHere.length ? [await bundleWrite(host, signingPathOf(state), [state.certs[0]], signer), ...moves] : [];
  if (moves.length && options.signerFirst)
    // A running signer watches its file and stops signing when it turns into a bundle, and the kubelet takes a while
    // to restart it with a changed flag: it runs with its own file before the CA file becomes old + new.
    return {
      writes: signerWrites,
      changes: [{ name: signer }],
      restart: trust.signers,
      partial: `${trust.signers.join(', ')} to sign from ${signingPathOf(state)} before ${state.files.certPath} trusts old + new`,
    };
  const writes: FileWrite[] = [];
  const name = `${state.ca} (old + new)`;
  if (!state.next) {
    // the new CA's key and certificate: one entry, so the write is checked as a pair
    const pair = `${state.ca} (new, waiting)`;
    writes.push(await fileWrite(host, state.files.nextKeyPath, privateKeyToPem(next.key), KEY_MODE, pair));
    writes.push(await fileWrite(host, state.files.nextCertPath, certificateToPem(next.cert), 0o644, pair));
  }
  if (!state.certs.some((c) => samePair(c, next.cert)))
    writes.push(await bundleWrite(host, state.files.certPath, [...state.certs, next.cert], name));
  // (files only, nothing restarted between: first the signer's own file and its flag, then the bundle)
  writes.unshift(...signerWrites);
  for (const place of trust.others) {
    const held = await heldAt(host, place);
    if (!held.some((c) => samePair(c, next.cert))) writes.push(await placeWrite(host, place, [...held, next.cert], name));
  }
  if (writes.length === 0) return undefined;
  return { writes, changes: [{ name }], restart: [...new Set([...trust.readers, ...trust.signers])] };
}

/** issue: the new CA signs (first in the bundle, its key the CA key) and re-issues every leaf the CA signed. */
export async function planIssue(host: Host, scan: NodeScan, state: CaRotationState): Promise<PhaseWrites | undefined> {
  if (state.stage === 'single' && !state.next)
    throw new KpkiError(`${scan.node}: ${state.ca} trusts no new CA yet: run the trust phase first`);
  if (state.stage === 'single')
    throw new KpkiError(
      `${scan.node}: ${state.files.nextCertPath} is there but ${state.files.certPath} does not trust it: run the trust phase again`,
    );
  const name = `${state.ca} (new signs)`;
  const writes: FileWrite[] = [];
  let signer: CaPair;
  if (state.stage === 'trusted') {
    signer = (await waitingCa(host, state))!;
    const others = state.certs.filter((c) => !samePair(c, signer.cert));
    // (one entry: the written bundle's first certificate is checked against the written key)
    writes.push(await fileWrite(host, state.files.certPath, pemOf([signer.cert, ...others]), 0o644, name));
    writes.push(await fileWrite(host, state.files.keyPath, privateKeyToPem(signer.key), KEY_MODE, name));
    writes.push({ kind: 'remove', path: state.files.nextCertPath, entry: name });
    writes.push({ kind: 'remove', path: state.files.nextKeyPath, entry: name });
    // a signer's own file (one certificate) follows the key
    const { signing } = await trustOf(host, scan, state);
    for (const place of signing.filter((p) => p.path !== state.files.certPath))
      writes.push(await bundleWrite(host, place.path, [signer.cert], `${state.ca} signer (new)`));
  } else {
    // issued already: only leaves an earlier run left signed by the old CA (none, normally)
    const key = caEntryOf(scan, state.ca).key;
    if (!key)
      throw new KpkiError(`${scan.node}: the ${state.ca} key ${state.files.keyPath} could not be read`, { path: state.files.keyPath });
    signer = { cert: state.certs[0], key };
  }
  const stale = state.stage === 'trusted' ? state.leaves : state.leaves.filter((l) => !l.signedByFirst);
  if (writes.length === 0 && stale.length === 0) return undefined;
  // the leaves are planned and issued as `renew` does, with the new CA in the old one's place
  const swapped: NodeScan = {
    ...scan,
    cas: scan.cas.map((c) => (c.name === state.ca ? { ...c, cert: signer.cert, key: signer.key, keyPresent: true } : c)),
  };
  // (only the leaves: loose modes of other files are `kpki renew`'s to fix, not a rotation's)
  const plan = stale.length
    ? { ...planRenewal(swapped, { names: stale.map((l) => l.name), now: new Date() }), modeChanges: [] }
    : undefined;
  if (plan) writes.push(...(await materialize(host, swapped, plan)));
  return { writes, changes: [{ name }, ...(plan?.items.map((i) => ({ name: i.name })) ?? [])], restart: [] };
}

/** finish: every bundle holds the new CA only; refused while a leaf of this node is still signed by an old one. */
export async function planFinish(host: Host, scan: NodeScan, state: CaRotationState): Promise<PhaseWrites | undefined> {
  if (state.stage === 'trusted')
    throw new KpkiError(
      `${scan.node}: the new ${state.ca} does not sign yet: run the issue phase first (finishing now would drop the CA that signed every certificate)`,
    );
  const old = state.leaves.filter((l) => !l.signedByFirst);
  if (old.length)
    throw new KpkiError(
      `${scan.node}: still signed by the old ${state.ca}: ${old.map((l) => `${l.name} (${l.path})`).join(', ')}: run the issue phase again`,
    );
  const name = `${state.ca} (new only)`;
  const keep = state.certs[0];
  const dropped = state.certs.slice(1);
  const writes: FileWrite[] = [];
  if (dropped.length) writes.push(await bundleWrite(host, state.files.certPath, [keep], name));
  const trust = await trustOf(host, scan, state);
  for (const place of trust.others) {
    const held = await heldAt(host, place);
    const kept = held.filter((c) => !dropped.some((d) => samePair(c, d)));
    if (kept.length < held.length) writes.push(await placeWrite(host, place, kept, name));
  }
  // the signer reads the CA file again (one certificate now, as kubeadm wrote it); its own file goes
  const ownFile = trust.signing.filter((p) => p.path === signingPathOf(state));
  const moved = await signerMoves(host, ownFile, state.files.certPath);
  if (moved.length) writes.push(...moved, { kind: 'remove', path: signingPathOf(state), entry: `${state.ca} signer (one certificate)` });
  if (writes.length === 0) return undefined;
  const restart = moved.length ? [...new Set([...trust.readers, ...trust.signers])] : trust.readers;
  return { writes, changes: [{ name }], restart };
}

/**
 * A node that trusts the CA without holding its key (a worker: ca.crt as the kubelet's clientCAFile, kubelet.conf's
 * certificate-authority-data): every place that holds the CA is made to trust `want(held)`. Nothing to do when every
 * place already does; the kubelet reads them only at start.
 */
export async function planTrustingNode(
  host: Host,
  scan: NodeScan,
  ca: RotatableCa,
  want: (held: Certificate[]) => Certificate[],
  name: string,
): Promise<PhaseWrites | undefined> {
  const { trusts } = await blastRadius(host, scan, ca);
  const entry = scan.cas.find((c) => c.name === ca && c.cert && !c.embeddedOnly);
  const kubeletConf = posix.join(scan.kubeconfigDir, 'kubelet.conf');
  const candidates: TrustPlace[] = [
    ...(entry ? [{ path: entry.certPath, via: 'the CA file', readAt: 'start' as const, why: '' }] : []),
    ...trusts.filter((t) => !t.signs),
    { path: kubeletConf, via: 'kubelet.conf', readAt: 'start', kubeconfig: true, why: '' },
  ];
  const seen = new Set<string>();
  const writes: FileWrite[] = [];
  for (const place of candidates) {
    if (seen.has(place.path) || !(await host.stat(place.path))) continue;
    seen.add(place.path);
    const held = await heldAt(host, place).catch(() => []);
    if (held.length === 0) continue; // a kubeconfig that names a CA file: that file is a place of its own
    const wanted = want(held);
    if (wanted.length === held.length && wanted.every((c, i) => samePair(c, held[i]))) continue;
    writes.push(await placeWrite(host, place, wanted, name));
  }
  return writes.length ? { writes, changes: [{ name }], restart: ['kubelet'] } : undefined;
}

export function planPhase(
  host: Host,
  scan: NodeScan,
  state: RotationState,
  phase: WritingPhase,
  next?: NewSigner,
  options: PhaseOptions = {},
): Promise<PhaseWrites | undefined> {
  if (state.kind === 'key') return planKeyPhase(host, scan, state, phase, next);
  if (phase === 'trust') {
    if (!next?.cert) throw new Error(`the trust phase of ${state.ca} needs the new CA certificate`);
    return planTrust(host, scan, state, { cert: next.cert, key: next.key }, options);
  }
  if (phase === 'issue') return planIssue(host, scan, state);
  return planFinish(host, scan, state);
}

/**
 * The new CA an earlier trust phase left waiting on this node, with its key; undefined when none is waiting. A
 * waiting certificate whose key is missing or is another key fails, naming the file.
 */
export async function waitingCa(host: Host, state: CaRotationState): Promise<CaPair | undefined> {
  if (!state.next) return undefined;
  const { nextKeyPath, nextCertPath } = state.files;
  const file = await readOptional(host, nextKeyPath);
  if (!file.ok)
    throw new KpkiError(`${state.node}: the new ${state.ca} key ${nextKeyPath} is missing: run the trust phase again`, {
      path: nextKeyPath,
    });
  const key = parsePrivateKey(file.value);
  if (!keyMatchesCertificate(state.next, key))
    throw new KpkiError(`${state.node}: ${nextKeyPath} is not the key of ${nextCertPath}`, { path: nextKeyPath });
  return { cert: state.next, key };
}

/** What still uses the old CA on this node, from its files (verify). */
export function stillOld(state: RotationState): string[] {
  if (state.kind === 'key') return stillOldKey(state);
  const out = state.leaves.filter((l) => !l.signedByFirst).map((l) => `${l.name} (${l.path}) is signed by the old ${state.ca}`);
  if (state.stage === 'trusted') out.unshift(`${state.files.certPath}: the old ${state.ca} still signs (issue phase not done)`);
  return out;
}

export const describeStage = (s: RotationState): string =>
  s.kind === 'key'
    ? describeKeyStage(s)
    : s.stage === 'single'
      ? s.next
        ? `new ${s.ca} waiting in ${posix.basename(s.files.nextCertPath)} but not trusted`
        : 'one CA'
      : s.stage === 'trusted'
        ? 'trusts old + new, the old signs'
        : `the new signs; the bundle still trusts ${s.certs.length - 1} old`;

/** A node's rotation state as the phase decision reads it (phase-decision.ts), named as the caller names the node. */
export const nodeStageOf = (node: string, s: RotationState): NodeStage => ({
  node,
  stage: s.stage,
  signerId: s.signerId,
  nextId: s.nextId,
  nextWaiting: Boolean(s.next),
  described: describeStage(s),
});
