// The kubelet/ room of node/, its only door for the rest of kpki (the layer test refuses deep imports from outside the
// room). The kubelet's certificates: where its client identity lives, its rotation settings, and an offline renewal of
// its client certificate the kubelet's own way.
export * from './kubelet-rotation.js';
export * from './kubelet.js';
