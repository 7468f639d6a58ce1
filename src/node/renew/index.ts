// The renew/ room of node/, its only door for the rest of kpki (the layer test refuses deep imports from outside the
// room). Renewal of one node: the plan (what, why, with which key and validity), every new key and certificate made in
// memory before any write, and the kubeadm config edits that go with them (comment-preserving YAML edits).
export * from './kubeadm-config-file.js';
export * from './materialize.js';
export * from './plan.js';
export * from './san-change.js';
export * from './slot-writers.js';
export * from './yaml-edit.js';
