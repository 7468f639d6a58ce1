// The rotation/ room of node/, its only door for the rest of kpki (the layer test refuses deep imports from outside the
// room). One node's part of a rotation (a CA or the service-account key pair): its stage from its files, what each
// phase writes, the new signer, and the phase decision over many nodes.
export * from './ca-blast.js';
export * from './ca-rotation.js';
export * from './common.js';
export * from './new-signer.js';
export * from './phase-decision.js';
export * from './sa-rotation.js';
export * from './worker-ca-rotation.js';
