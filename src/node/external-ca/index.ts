// The external-ca/ room of node/, its only door for the rest of kpki (the layer test refuses deep imports from outside
// the room). External CA mode: requests handed to the CA team with the new keys kept on the node, and the signed
// certificates taken back (the request directory on the operator's side).
export * from './node.js';
export * from './request-dir.js';
