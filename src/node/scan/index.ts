// The scan/ room of node/, its only door for the rest of kpki (the layer test refuses deep imports from outside the
// room). Reading one node: certificates, keys, kubeconfigs, the kubelet's and Kubespray's files into a NodeScan, judged
// (chains, key match, stale CA data, modes). Nothing here writes.
export * from './entries.js';
export * from './etcd-ssl.js';
export * from './judge.js';
export * from './kubeconfigs.js';
export * from './kubelet.js';
export * from './permissions.js';
export * from './read.js';
export * from './result.js';
export * from './scan.js';
export * from './slot-files.js';
