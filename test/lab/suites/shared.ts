// The one lab shared by every suite of test/lab/cluster.test.ts (a 3 + 1 cluster: starting it takes seconds, so the
// suites share it and each test puts back what it changed).
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import '../../../src/pki/provider.js';
import { Lab, LabNode } from '../../../lab/lab.js';
import { Load, LoadOptions, LoadReport } from '../../../lab/load.js';
import { hashTree, KPKI } from '../../helpers/kpki.js';
import { labSkipReason } from '../../helpers/lab-tools.js';

export const skip = labSkipReason();
let current: Lab | undefined;

before(async () => {
  if (!skip) current = await Lab.start({ controlPlanes: 3, workers: 1 });
});
after(async () => {
  await current?.stop();
});

export function lab(): Lab {
  if (!current) throw new Error('the lab did not start');
  return current;
}

export const admin = (node: LabNode) => node.path('/etc/kubernetes/admin.conf');

/** Runs `during` under load; the load stops however `during` ends (a failed assertion must not leave it running). */
export async function underLoad<T>(
  during: (load: Load) => Promise<T>,
  options: Partial<LoadOptions> = {},
): Promise<{ value: T; report: LoadReport }> {
  const load = Load.start(lab(), { durationMs: 900_000, ...options });
  try {
    const value = await during(load);
    return { value, report: await load.finish() };
  } catch (err) {
    await load.finish();
    throw err;
  }
}

/** Each control-plane node's /etc/kubernetes, hashed (what a test compares before and after). */
export const controlPlaneHashes = () => lab().controlPlanes.map((n) => hashTree(n.path('/etc/kubernetes')));

/** `kpki restore latest` on every control-plane node; then every byte must be as `pristine` recorded it. */
export async function restoreLatestEverywhere(pristine: string[]): Promise<void> {
  const cluster = lab();
  for (const node of cluster.controlPlanes) {
    const r = await cluster.exec(node, [process.execPath, KPKI, 'restore', 'latest']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  }
  assert.deepEqual(controlPlaneHashes(), pristine, 'every byte as before');
}

/**
 * A trust phase done by hand on every control-plane node, with nothing restarted: `kpki ca rotate --phase trust` on
 * each node, the new CA (or sa key) made on the first and given to the rest. Each node's output, in order.
 */
export async function trustByHand(ca: 'etcd-ca' | 'sa'): Promise<{ saved: string; outputs: string[] }> {
  const cluster = lab();
  const saved = join(cluster.dir, `by-hand-${ca}`);
  const given =
    ca === 'sa'
      ? ['--new-ca-key', join(saved, 'sa.key')]
      : ['--new-ca-cert', join(saved, `${ca}.crt`), '--new-ca-key', join(saved, `${ca}.key`)];
  const outputs: string[] = [];
  for (const [i, node] of cluster.controlPlanes.entries()) {
    const flags = i === 0 ? ['--save-ca', saved] : given;
    const r = await cluster.exec(node, [process.execPath, KPKI, 'ca', 'rotate', '--ca', ca, '--phase', 'trust', '--yes', ...flags]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    outputs.push(r.stdout);
  }
  return { saved, outputs };
}
