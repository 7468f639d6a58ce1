// One node's part of a service-account key rotation (../shared/reference/ca-rotation.md): kube-apiserver verifies
// tokens with every public key in --service-account-key-file (sa.pub may hold several), and signs them with
// --service-account-signing-key-file (sa.key, as the controller-manager's --service-account-private-key-file does).
// trust: sa.pub holds old + new, the new private key waits as sa-next.key; issue: sa.key becomes the new key (it
// signs), the old public key stays in sa.pub so tokens it signed keep working; finish: sa.pub holds the new key only.
// No manifest changes: the files named by the flags change, and what reads them at start is restarted.
import type { KeyObject } from 'node:crypto';
import { posix } from 'node:path';
import { KpkiError } from '../../errors.js';
import type { Host } from '../../hosts/host.js';
import type { WritingPhase } from '../../kubeadm/ca-trust.js';
import { parsePrivateKey, privateKeyToPem } from '../../pki/keys.js';
import { keyFingerprint, publicKeysOf, publicKeyToPem } from '../../pki/public-keys.js';
import { FileWrite, fileWrite, KEY_MODE } from '../renew/index.js';
import { listBackups } from '../txn/index.js';
import { readOptional } from '../scan/index.js';
import { NewSigner, PhaseWrites, StageView, trustOf } from './common.js';
import type { NodeScan } from '../scan/index.js';

export interface KeyRotationFiles {
  /** sa.pub: the public keys kube-apiserver verifies tokens with. */
  certPath: string;
  /** sa.key: the private key that signs. */
  keyPath: string;
  /** sa-next.key: the new private key, waiting between trust and issue. */
  nextKeyPath: string;
}

export interface KeyRotationState extends StageView {
  kind: 'key';
  files: KeyRotationFiles;
  /** sa.pub's public keys, in file order. */
  keys: KeyObject[];
  /** sa.key (private). */
  signer: KeyObject;
  /** sa-next.key (private), when a trust phase left it waiting. */
  next?: KeyObject;
}

async function readKeyFile(host: Host, node: string, path: string, what: string): Promise<Buffer | undefined> {
  const file = await readOptional(host, path);
  if (!file.ok) return undefined;
  if (file.value.length === 0) throw new KpkiError(`${node}: ${what} ${host.describe(path)} is empty`, { path });
  return file.value;
}

function parsed<T>(node: string, path: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new KpkiError(`${node}: ${path}: ${(err as Error).message}`, { path });
  }
}

/** The node's service-account key state, from sa.pub, sa.key and sa-next.key. */
export async function keyRotationState(host: Host, scan: NodeScan): Promise<KeyRotationState> {
  const files = {
    certPath: posix.join(scan.certDir, 'sa.pub'),
    keyPath: posix.join(scan.certDir, 'sa.key'),
    nextKeyPath: posix.join(scan.certDir, 'sa-next.key'),
  };
  const pub = await readKeyFile(host, scan.node, files.certPath, 'the service-account public key');
  const priv = await readKeyFile(host, scan.node, files.keyPath, 'the service-account key');
  if (!pub || !priv)
    throw new KpkiError(
      `${scan.node}: no service-account key pair here (${!pub ? files.certPath : files.keyPath} is missing): kpki rotates the key pair kubeadm keeps in ${scan.certDir}`,
      { path: !pub ? files.certPath : files.keyPath },
    );
  const keys = parsed(scan.node, files.certPath, () => publicKeysOf(pub));
  if (keys.length === 0) throw new KpkiError(`${scan.node}: ${files.certPath} holds no public key`, { path: files.certPath });
  const signer = parsed(scan.node, files.keyPath, () => parsePrivateKey(priv));
  const waiting = await readKeyFile(host, scan.node, files.nextKeyPath, 'the new service-account key');
  const next = waiting ? parsed(scan.node, files.nextKeyPath, () => parsePrivateKey(waiting)) : undefined;
  const ids = keys.map(keyFingerprint);
  const nextId = next && keyFingerprint(next);
  const stage = keys.length === 1 ? 'single' : nextId && ids.includes(nextId) ? 'trusted' : 'issued';
  return { kind: 'key', node: scan.node, ca: 'sa', files, keys, signer, next, stage, signerId: keyFingerprint(signer), nextId };
}

const pemOf = (keys: KeyObject[]) => keys.map(publicKeyToPem).join('');
const without = (keys: KeyObject[], drop: KeyObject[]) => {
  const gone = new Set(drop.map(keyFingerprint));
  return keys.filter((k) => !gone.has(keyFingerprint(k)));
};
const holds = (keys: KeyObject[], key: KeyObject) => keys.some((k) => keyFingerprint(k) === keyFingerprint(key));

async function keysWrite(host: Host, path: string, keys: KeyObject[], entry: string): Promise<FileWrite> {
  return fileWrite(host, path, pemOf(keys), 0o600, entry, 'keys');
}

/** The other files that verify with the key (another --service-account-key-file target), and what reads them. */
async function othersOf(host: Host, scan: NodeScan, state: KeyRotationState) {
  const trust = await trustOf(host, scan, state);
  const others: { path: string; keys: KeyObject[] }[] = [];
  for (const place of trust.others) others.push({ path: place.path, keys: publicKeysOf(await host.readFile(place.path)) });
  return { ...trust, others };
}

async function planTrust(host: Host, scan: NodeScan, state: KeyRotationState, next: NewSigner): Promise<PhaseWrites | undefined> {
  if (state.stage === 'issued')
    throw new KpkiError(
      `${scan.node}: the service-account key was already switched (${state.files.keyPath} signs, ${state.files.certPath} still verifies ${state.keys.length - 1} old key(s)): finish that rotation first`,
    );
  if (state.next && keyFingerprint(state.next) !== keyFingerprint(next.key))
    throw new KpkiError(
      `${scan.node}: another new service-account key already waits in ${state.files.nextKeyPath}: continue that rotation, or remove the file`,
      { path: state.files.nextKeyPath },
    );
  if (!holds(state.keys, state.signer))
    throw new KpkiError(
      `${scan.node}: ${state.files.certPath} does not hold the public half of ${state.files.keyPath}: tokens signed here do not verify; fix the pair before rotating it`,
      { path: state.files.certPath },
    );
  const name = 'sa (old + new)';
  const writes: FileWrite[] = [];
  if (!state.next)
    writes.push(await fileWrite(host, state.files.nextKeyPath, privateKeyToPem(next.key), KEY_MODE, 'sa (new, waiting)', 'keys'));
  if (!holds(state.keys, next.key)) writes.push(await keysWrite(host, state.files.certPath, [...state.keys, next.key], name));
  const trust = await othersOf(host, scan, state);
  for (const other of trust.others)
    if (!holds(other.keys, next.key)) writes.push(await keysWrite(host, other.path, [...other.keys, next.key], name));
  if (writes.length === 0) return undefined;
  return { writes, changes: [{ name }], restart: trust.readers };
}

async function planIssue(host: Host, scan: NodeScan, state: KeyRotationState): Promise<PhaseWrites | undefined> {
  if (state.stage === 'single')
    throw new KpkiError(
      state.next
        ? `${scan.node}: ${state.files.nextKeyPath} is there but ${state.files.certPath} does not hold its public key: run the trust phase again`
        : `${scan.node}: ${state.files.certPath} verifies with no new key yet: run the trust phase first`,
    );
  if (state.stage === 'issued') {
    if (!holds(state.keys, state.signer))
      throw new KpkiError(`${scan.node}: ${state.files.certPath} does not hold the public half of ${state.files.keyPath}`, {
        path: state.files.certPath,
      });
    return undefined;
  }
  const next = state.next!;
  const name = 'sa (new signs)';
  const trust = await othersOf(host, scan, state);
  // the new key first, then the old ones it still verifies (the order does not matter to kube-apiserver)
  const writes: FileWrite[] = [
    await fileWrite(host, state.files.keyPath, privateKeyToPem(next), KEY_MODE, name, 'keys'),
    await keysWrite(host, state.files.certPath, [next, ...without(state.keys, [next])], name),
    { kind: 'remove', path: state.files.nextKeyPath, entry: name },
  ];
  // kube-apiserver signs tokens and the controller-manager legacy token secrets with sa.key: both read it at start
  return { writes, changes: [{ name }], restart: trust.signers };
}

async function planFinish(host: Host, scan: NodeScan, state: KeyRotationState): Promise<PhaseWrites | undefined> {
  if (state.stage === 'trusted')
    throw new KpkiError(
      `${scan.node}: the new service-account key does not sign yet: run the issue phase first (finishing now would drop the key every token is signed with)`,
    );
  if (!holds(state.keys, state.signer))
    throw new KpkiError(`${scan.node}: ${state.files.certPath} does not hold the public half of ${state.files.keyPath}`, {
      path: state.files.certPath,
    });
  const name = 'sa (new only)';
  const dropped = without(state.keys, [state.signer]);
  const writes: FileWrite[] = [];
  if (dropped.length) writes.push(await keysWrite(host, state.files.certPath, [state.signer], name));
  const trust = await othersOf(host, scan, state);
  for (const other of trust.others) {
    const kept = without(other.keys, dropped);
    if (kept.length < other.keys.length) writes.push(await keysWrite(host, other.path, kept, name));
  }
  if (writes.length === 0) return undefined;
  return { writes, changes: [{ name }], restart: trust.readers };
}

export function planKeyPhase(
  host: Host,
  scan: NodeScan,
  state: KeyRotationState,
  phase: WritingPhase,
  next?: NewSigner,
): Promise<PhaseWrites | undefined> {
  if (phase === 'trust') {
    if (!next) throw new Error('the trust phase needs the new service-account key');
    return planTrust(host, scan, state, next);
  }
  return phase === 'issue' ? planIssue(host, scan, state) : planFinish(host, scan, state);
}

/** The new key an earlier trust phase left waiting on this node. */
export function waitingKey(state: KeyRotationState): NewSigner | undefined {
  return state.next && { key: state.next };
}

/** What still signs with the old key on this node (verify). */
export function stillOldKey(state: KeyRotationState): string[] {
  if (state.stage === 'trusted') return [`${state.files.keyPath}: the old service-account key still signs (issue phase not done)`];
  if (!holds(state.keys, state.signer))
    return [`${state.files.certPath} does not hold the public half of ${state.files.keyPath}: tokens signed here do not verify`];
  return [];
}

export function describeKeyStage(s: KeyRotationState): string {
  if (s.stage === 'single') return s.next ? `new key waiting in ${posix.basename(s.files.nextKeyPath)} but not trusted` : 'one key';
  if (s.stage === 'trusted') return 'verifies old + new, the old signs';
  return `the new signs; ${posix.basename(s.files.certPath)} still verifies ${s.keys.length - 1} old`;
}

/** The default of --token-overlap: a projected token's requested lifetime, after which the kubelet has refreshed it. */
export const TOKEN_OVERLAP_MS = 60 * 60_000;

/** When the new key began signing on this node: the issue phase's backup (taken just before sa.key was switched). */
export async function newKeySignsSince(host: Host, state: KeyRotationState): Promise<Date | undefined> {
  const switched = (await listBackups(host)).filter(
    (b) => b.reason.startsWith('ca rotate sa issue') && b.files.some((f) => f.path === state.files.keyPath),
  );
  const times = switched.map((b) => Date.parse(b.createdAt)).filter((t) => !Number.isNaN(t));
  return times.length ? new Date(Math.max(...times)) : undefined;
}

/**
 * Why finish must wait on this node, or undefined: tokens the old key signed stay in use until they are refreshed.
 * A pod's projected token is refreshed by the kubelet within its requested lifetime (1 h by default; kube-apiserver
 * may extend the token's own expiry to a year, but the kubelet still refreshes it on the hour), so finish waits until
 * the new key has signed for `overlapMs` on every node.
 */
export async function tokenOverlapProblem(
  host: Host,
  state: KeyRotationState,
  overlapMs: number,
  now = new Date(),
): Promise<string | undefined> {
  if (overlapMs <= 0 || state.stage !== 'issued') return undefined;
  const since = await newKeySignsSince(host, state);
  if (!since)
    return `${state.node}: no backup of the issue phase says when the new service-account key began signing here: wait until tokens signed by the old key were refreshed, then give --token-overlap 0`;
  const ready = since.getTime() + overlapMs;
  if (ready <= now.getTime()) return undefined;
  return `${state.node}: the new service-account key signs since ${since.toISOString()}; tokens the old key signed may be in use until ${new Date(ready).toISOString()} (--token-overlap ${Math.round(overlapMs / 60_000)} min): run finish after that`;
}
