// Lab node trees for tests: built once per test file, copied for each test (symlinks kept as they are).
import { after, before } from 'node:test';
import { cpSync } from 'node:fs';
import { buildControlPlaneNode, makeClusterCas, NodeOptions } from '../../src/trees/index.js';
import { removeTree, tempRoot } from './kpki.js';

const DAY = 86_400_000;

export async function expiredControlPlane(
  options: Partial<NodeOptions> = {},
  keyAlgorithm: 'ECDSA-P256' | 'RSA-2048' = 'ECDSA-P256',
): Promise<string> {
  const root = tempRoot('kpki-lab-');
  const now = Date.now();
  const cas = await makeClusterCas({ keyAlgorithm, notBefore: new Date(now - 400 * DAY) });
  await buildControlPlaneNode(root, cas, {
    nodeName: 'lab-cp1',
    address: '127.0.0.11',
    leafNotBefore: new Date(now - 400 * DAY),
    leafNotAfter: new Date(now - 35 * DAY),
    ...options,
  });
  return root;
}

/** A healthy control-plane node (valid for a year), ECDSA keys. */
export async function healthyControlPlane(options: Partial<NodeOptions> = {}): Promise<string> {
  const root = tempRoot('kpki-lab-');
  await buildControlPlaneNode(root, await makeClusterCas(), { nodeName: 'lab-cp1', address: '127.0.0.11', ...options });
  return root;
}

export function copyTree(template: string): string {
  const root = tempRoot('kpki-case-');
  cpSync(template, root, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  return root;
}

/**
 * One expired control-plane template per test file (built in `before`), copied fresh for each test; every tree is
 * removed in `after`, even when tests fail.
 */
export function sharedExpiredNode(): { template: () => string; fresh: () => string } {
  let template = '';
  const roots: string[] = [];
  before(async () => {
    template = await expiredControlPlane();
    roots.push(template);
  });
  after(() => roots.forEach(removeTree));
  return {
    template: () => template,
    fresh: () => {
      const root = copyTree(template);
      roots.push(root);
      return root;
    },
  };
}

/** One healthy control-plane template per test file (ECDSA keys, valid for a year), copied fresh for each test. */
export function sharedHealthyNode(): { fresh: () => string } {
  let template = '';
  const roots: string[] = [];
  before(async () => {
    template = await healthyControlPlane();
    roots.push(template);
  });
  after(() => roots.forEach(removeTree));
  return {
    fresh: () => {
      const root = copyTree(template);
      roots.push(root);
      return root;
    },
  };
}
