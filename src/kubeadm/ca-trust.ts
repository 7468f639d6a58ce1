// Who trusts each CA (../shared/reference/ca-rotation.md): the static pod flags that name a file holding a CA (or the
// service-account key), and when the component reads it. A rotation writes bundles there and restarts only what
// reads them at start.
import type { UsingComponent } from './catalog.js';

export const ROTATABLE = ['ca', 'front-proxy-ca', 'etcd-ca', 'sa'] as const;
export type RotatableCa = (typeof ROTATABLE)[number];

/** Why an expired CA cannot be rotated (ca plan and ca rotate say the same). */
export const expiredCaMessage = (ca: string, file: string, notAfter: Date) =>
  `${ca} (${file}) expired ${notAfter.toISOString()}: nothing signed by it is trusted any more, so there is no old CA to bridge from. This is a recovery with a new CA, every node moved to it with the downtime that costs; kpki does not do that yet (kpki recover renews certificates with the CA the nodes hold).`;

export const WRITING_PHASES = ['trust', 'issue', 'finish'] as const;
export type WritingPhase = (typeof WRITING_PHASES)[number];
export const PHASES = ['trust', 'issue', 'verify', 'finish'] as const;
export type Phase = (typeof PHASES)[number];

/** `start`: read once when the component starts (restart it); `change`: reloaded when the file changes. */
export type ReadAt = 'start' | 'change';

export interface TrustFlag {
  component: Exclude<UsingComponent, 'kubelet'>;
  flag: string;
  readAt: ReadAt;
  /** It signs with the file (the CA key, or the service-account private key): exactly one, switched at `issue`. */
  signs?: boolean;
  why: string;
}

const CLIENT_CA = 'client certificates (reloaded on change since Kubernetes 1.17)';

export const TRUST_FLAGS: Record<RotatableCa, TrustFlag[]> = {
  ca: [
    { component: 'kube-apiserver', flag: 'client-ca-file', readAt: 'change', why: CLIENT_CA },
    { component: 'kube-apiserver', flag: 'kubelet-certificate-authority', readAt: 'start', why: 'kubelet serving certificates' },
    { component: 'kube-controller-manager', flag: 'root-ca-file', readAt: 'start', why: 'publishes kube-root-ca.crt to every namespace' },
    { component: 'kube-controller-manager', flag: 'client-ca-file', readAt: 'change', why: CLIENT_CA },
    {
      component: 'kube-controller-manager',
      flag: 'cluster-signing-cert-file',
      readAt: 'start',
      signs: true,
      why: 'signs kubelet and CSR certificates (one certificate, never a bundle)',
    },
    { component: 'kube-scheduler', flag: 'client-ca-file', readAt: 'change', why: CLIENT_CA },
  ],
  'front-proxy-ca': [
    {
      component: 'kube-apiserver',
      flag: 'requestheader-client-ca-file',
      readAt: 'change',
      why: 'front-proxy client certificates; published as extension-apiserver-authentication',
    },
    { component: 'kube-controller-manager', flag: 'requestheader-client-ca-file', readAt: 'change', why: CLIENT_CA },
    { component: 'kube-scheduler', flag: 'requestheader-client-ca-file', readAt: 'change', why: CLIENT_CA },
  ],
  'etcd-ca': [
    { component: 'etcd', flag: 'trusted-ca-file', readAt: 'start', why: 'etcd client certificates' },
    { component: 'etcd', flag: 'peer-trusted-ca-file', readAt: 'start', why: 'etcd peer certificates' },
    { component: 'kube-apiserver', flag: 'etcd-cafile', readAt: 'start', why: "etcd's serving certificate" },
  ],
  sa: [
    {
      component: 'kube-apiserver',
      flag: 'service-account-key-file',
      readAt: 'start',
      why: 'verifies service-account tokens (several files may be given: old and new)',
    },
    {
      component: 'kube-apiserver',
      flag: 'service-account-signing-key-file',
      readAt: 'start',
      signs: true,
      why: 'signs service-account tokens',
    },
    {
      component: 'kube-controller-manager',
      flag: 'service-account-private-key-file',
      readAt: 'start',
      signs: true,
      why: 'signs legacy token secrets',
    },
  ],
};

/** The kubeconfigs kubeadm writes, and who reads their certificate-authority-data (at start). */
export const KUBECONFIG_READERS: Record<string, UsingComponent | undefined> = {
  'admin.conf': undefined,
  'super-admin.conf': undefined,
  'controller-manager.conf': 'kube-controller-manager',
  'scheduler.conf': 'kube-scheduler',
  'kubelet.conf': 'kubelet',
};
