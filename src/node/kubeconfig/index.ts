// The kubeconfig/ room of node/, its only door for the rest of kpki (the layer test refuses deep imports from outside
// the room). Kubeconfigs for people: a user's kubeconfig updated from admin.conf, and new client kubeconfigs signed by
// the cluster CA (kubeadm kubeconfig user).
export * from './update.js';
export * from './user.js';
