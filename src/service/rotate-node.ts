// One phase of a CA rotation on one node (kpki ca rotate without -i: this machine, or a disk with --root): under the
// node lock, repair what an interrupted run left, read the node's rotation state, plan the phase, let the caller look
// at it, write it with a backup, and (--restart) restart what reads a changed bundle only at start, rolled back when
// it does not come back. verify only reads.
import type { Host } from '../hosts/host.js';
import type { RotatableCa } from '../kubeadm/ca-trust.js';
import { withNodeLock } from '../node/txn/index.js';
import { applyWrites } from '../node/txn/index.js';
import {
  describeStage,
  NewSigner,
  nodeStageOf,
  Phase,
  phaseDecision,
  PhaseWrites,
  planPhase,
  rotationState,
  stillOld,
} from '../node/rotation/index.js';
import { madeSigner, signerId, unfitSigner, waitingSigner } from '../node/rotation/index.js';
import { TOKEN_OVERLAP_MS, tokenOverlapProblem } from '../node/rotation/index.js';
import { scanNode, ScanOptions } from '../node/scan/index.js';
import { KpkiError } from '../errors.js';
import { keyMatchesCertificate } from '../pki/certificate.js';
import { kubeletStatus } from '../node/kubelet/index.js';
import type { NodeScan } from '../node/scan/index.js';
import { planWorkerPhase, workerStillOld } from '../node/rotation/index.js';
import { Component, readServices, runsHere } from './health.js';
import { bringIntoService } from './into-service.js';
import { repairNode } from './renew-node.js';
import type { StrategyName } from './strategies.js';
import { profileOf } from '../kubeadm/rotation-profiles.js';

export interface RotateNodeOptions {
  ca: RotatableCa;
  phase: Phase;
  newCa?: NewSigner;
  /** sa: how long the new key must have signed here before finish drops the old one. */
  tokenOverlapMs?: number;
  scan: ScanOptions;
  /** Bring the phase into service (restart what reads a changed bundle only at start); else say what to restart. */
  restart?: { strategy: StrategyName; timeoutMs: number };
  /** Sees the plan; a value other than undefined stops the phase with it (nothing written). */
  review: (plan: PhaseWrites, stage: string) => Promise<number | undefined>;
  /** Told the new CA of a trust phase made here, before it is written (--save-ca). */
  madeCa?: (pair: NewSigner) => Promise<void>;
  log: (line: string) => void;
}

/** Of the components a phase must restart, those kpki cannot: not static pods here (etcd as a systemd service). */
export async function notRestartable(host: Host, restart: Component[], kubeconfigDir?: string): Promise<Component[]> {
  const services = await readServices(host, kubeconfigDir);
  return restart.filter((c) => !runsHere(services, c));
}

/** The exit code of the phase: 0 done (or nothing to do), 1 verify found something old or a restart failed. */
export async function rotateCaOnNode(host: Host, o: RotateNodeOptions): Promise<number> {
  let carried: Carried = {};
  for (;;) {
    const step = await withNodeLock(host, () => rotateStep(host, o, carried));
    if (typeof step === 'number') return step;
    carried = step; // the first step of the phase is in service: the rest, planned again from the files
  }
}

/** The new CA a first step (the signer to its own file) planned with, for the rest of the phase; made here or not. */
interface Carried {
  next?: NewSigner;
  made?: boolean;
}

async function rotateStep(host: Host, o: RotateNodeOptions, carried: Carried): Promise<number | Carried> {
  await repairNode(host, { unpark: o.restart !== undefined, log: o.log });
  const scan = await scanNode(host, o.scan);
  if (profileOf(o.ca).trustedByWorkers && scan.role === 'worker') return rotateWorkerFiles(host, scan, o);
  const state = await rotationState(host, scan, o.ca);
  if (o.phase === 'verify') {
    const old = stillOld(state);
    for (const line of old) o.log(`still old: ${line}`);
    if (old.length === 0) o.log(`${o.ca} on ${host.name}: ${describeStage(state)}; every leaf is signed by the CA that signs now`);
    return old.length ? 1 : 0;
  }
  // the cluster's decision, on this node alone: a phase this node is past has nothing to do (its refusals name the
  // node's files: planPhase below)
  const decision = phaseDecision([nodeStageOf(host.name, state)], o.phase);
  if (decision.done) {
    o.log(`${o.ca} ${o.phase} on ${host.name}: nothing to do (${describeStage(state)}: ${decision.done})`);
    return 0;
  }
  let next: NewSigner | undefined = carried.next;
  let made = carried.made ?? false;
  if (o.phase === 'trust' && !next) {
    next = await waitingSigner(host, state);
    if (next && o.newCa && signerId(next) !== signerId(o.newCa))
      throw new KpkiError(
        `another new ${o.ca} already waits in ${state.files.nextKeyPath}: continue with it (leave out --new-ca-cert/--new-ca-key) or remove it`,
        { path: state.files.nextKeyPath },
      );
    const unfit = !next && o.newCa ? unfitSigner(state, o.newCa) : undefined;
    if (unfit) throw new KpkiError(`the new ${profileOf(o.ca).noun} given cannot replace ${o.ca}: ${unfit}`);
    made = !next && !o.newCa;
    next ??= o.newCa ?? (await madeSigner([state])).signer;
  }
  if (o.phase === 'finish' && state.kind === 'key') {
    const wait = await tokenOverlapProblem(host, state, o.tokenOverlapMs ?? TOKEN_OVERLAP_MS);
    if (wait) throw new KpkiError(`refusing to drop the old service-account key yet: ${wait}`);
  }
  // (with --restart, a signer moves to its own file and restarts before its CA file becomes a bundle)
  const planned = await planPhase(host, scan, state, o.phase, next, { signerFirst: o.restart !== undefined });
  if (!planned) {
    o.log(`${o.ca} ${o.phase} on ${host.name}: nothing to do (${describeStage(state)})`);
    return 0;
  }
  if (o.restart) {
    const unmanaged = await notRestartable(host, planned.restart, o.scan.kubeconfigDir);
    if (unmanaged.length)
      throw new KpkiError(
        `${unmanaged.join(', ')} must restart to read the changed ${o.ca} file but runs neither as a static pod nor as etcd.service here: leave out --restart and restart it yourself`,
      );
  }
  const stop = await o.review(planned, describeStage(state));
  if (stop !== undefined) return stop;
  if (planned.partial) {
    o.log(`${o.ca} ${o.phase} on ${host.name}, first step: ${planned.partial}`);
    const code = await applyPhase(host, planned, o);
    return code === 0 ? { next, made } : code;
  }
  if (made && next) {
    await o.madeCa?.(next);
    o.log(
      `The new ${o.ca} was made here: every other control-plane node must get this same ${profileOf(o.ca).noun} (--save-ca here, then ${profileOf(o.ca).newSignerFlags} there), or rotate the whole cluster with -i.`,
    );
  }
  return applyPhase(host, planned, o);
}

/** Writes a reviewed phase with a backup; brings it into service (--restart) or says what to restart. */
async function applyPhase(host: Host, planned: PhaseWrites, o: RotateNodeOptions): Promise<number> {
  const { backup } = await applyWrites(host, planned.writes, `ca rotate ${o.ca} ${o.phase}`);
  o.log(`${o.ca} ${o.phase} written on ${host.name}; backup ${backup.id}`);
  if (!o.restart) {
    if (planned.restart.length)
      o.log(`Restart ${planned.restart.join(', ')} (they read the changed CA file only at start), or run again with --restart.`);
    return 0;
  }
  const written = { renewed: planned.changes.map((c) => c.name), restart: planned.restart };
  const result = await bringIntoService(host, written, backup, { ...o.restart, kubeconfigDir: o.scan.kubeconfigDir, log: o.log });
  return result.ok ? 0 : 1;
}

/**
 * A worker's part of a rotation of the cluster CA: it holds no CA key, so the new CA is given (--new-ca-cert and
 * --new-ca-key, as --save-ca kept them on the first control-plane node); its key signs the kubelet's client certificate
 * in the issue phase and is never written here.
 */
async function rotateWorkerFiles(host: Host, scan: NodeScan, o: RotateNodeOptions): Promise<number> {
  const given = o.newCa;
  if (!given?.cert)
    throw new KpkiError(
      `${host.name} is a worker: it holds no CA key, so kpki cannot tell or make the new ca here; give it with --new-ca-cert and --new-ca-key (kept with --save-ca where the control-plane nodes' trust phase ran; the key signs the kubelet's client certificate and is not written here)`,
      { exitCode: 2 },
    );
  if (!given.cert.isCA || !keyMatchesCertificate(given.cert, given.key))
    throw new KpkiError('--new-ca-cert must be a CA certificate and --new-ca-key its key', { exitCode: 2 });
  const status = await kubeletStatus(host, scan);
  if (o.phase === 'verify') {
    const old = await workerStillOld(host, scan, status, given.cert);
    for (const line of old) o.log(`still old: ${line}`);
    if (old.length === 0) o.log(`ca on ${host.name} (worker): the kubelet trusts the new CA and its client certificate is from it`);
    return old.length ? 1 : 0;
  }
  const planned = await planWorkerPhase(host, scan, status, o.phase, { cert: given.cert, signer: { cert: given.cert, key: given.key } });
  if (!planned) {
    o.log(`ca ${o.phase} on ${host.name}: nothing to do (worker)`);
    return 0;
  }
  const phase: PhaseWrites = { ...planned, restart: ['kubelet'] };
  const stop = await o.review(phase, 'worker');
  if (stop !== undefined) return stop;
  return applyPhase(host, phase, o);
}
