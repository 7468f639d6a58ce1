// The components kpki brings into service, in kubeadm's order, and the ways it restarts them: names only, so that
// flag parsing does not load the code that talks to them.
export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet'] as const;
export type Component = (typeof COMPONENTS)[number];

export const STRATEGIES = ['auto', 'manifest', 'crictl', 'docker', 'systemd'] as const;
export type StrategyName = (typeof STRATEGIES)[number];
