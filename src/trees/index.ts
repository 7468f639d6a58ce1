// Lab trees for `kpki demo` and the tests.
export { makeClusterCas } from './cluster-cas.js';
export type { LabCas, LabCa, CaOptions } from './cluster-cas.js';
export { buildControlPlaneNode, buildWorkerNode } from './node-tree.js';
export type { NodeOptions } from './node-tree.js';
