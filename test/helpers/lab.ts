// Lab node trees for tests: built once per test file, copied for each test (symlinks kept as they are).
import { cpSync } from 'node:fs';
import { buildControlPlaneNode, makeClusterCas, NodeOptions } from '../../src/lab/index.js';
import { tempRoot } from './kpki.js';

const DAY = 86_400_000;

export async function expiredControlPlane(options: Partial<NodeOptions> = {}, keyAlgorithm: 'ECDSA-P256' | 'RSA-2048' = 'ECDSA-P256'): Promise<string> {
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

export function copyTree(template: string): string {
  const root = tempRoot('kpki-case-');
  cpSync(template, root, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  return root;
}
