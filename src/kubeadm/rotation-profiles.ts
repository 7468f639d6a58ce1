// What is rotated, one record per rotatable thing (kpki ca rotate --ca NAME): who trusts it beyond the control plane,
// who serves a chain of it, what must hold before its new signer signs, what it waits for before the old one goes,
// and what the operator does next. The rotation code asks the profile instead of branching on the name; a new
// rotatable thing is a new record here (plus its trust flags in ca-trust.ts).
import type { RotatableCa, WritingPhase } from './ca-trust.js';

/** The check before the new signer signs (issue phase), beyond every node trusting it. */
export type IssueGate =
  /** every running etcd member accepts a client certificate of the new CA (etcd reads its CA file only at start) */
  | 'etcd-members-trust'
  /** every running kube-apiserver verifies tokens of the new key (its /openid/v1/jwks) */
  | 'api-servers-verify'
  /** every worker's kubelet trusts the new CA (it would lose its API servers once they serve new-CA certificates) */
  | 'kubelets-trust';

export interface RotationProfile {
  name: RotatableCa;
  /** An X.509 CA (certificate and key), or a bare key pair (the service-account key: sa.key, sa.pub). */
  kind: 'ca' | 'key';
  /** How the rotated thing is called in sentences. */
  noun: 'CA' | 'key';
  /** The flags that hand kpki the operator's new signer. */
  newSignerFlags: string;
  /** Workers' kubelets trust it too (their client CA and bootstrap kubeconfig): the phases continue on the workers. */
  trustedByWorkers: boolean;
  /** kube-public/cluster-info carries it (kubeadm join discovery): republished at trust and finish. */
  inClusterInfo: boolean;
  /** The trust phase may first move the signer to its own file (the controller-manager signs with the CA file). */
  signerFirstStep: boolean;
  /** The component whose served chain `verify` and `finish` check, if one serves a chain of it. */
  servedBy?: 'etcd' | 'kube-apiserver';
  /** What verify says is served from the new CA, when something serves it. */
  servedText?: string;
  issueGates: IssueGate[];
  /** finish waits until the new key has signed every pod's token (the kubelet refreshes them). */
  finishWaitsForTokens: boolean;
  /** What the operator does after each phase. */
  nextStep: Record<WritingPhase, string>;
}

const CA_NEXT_STEP: Record<WritingPhase, string> = {
  trust: 'Next: --phase issue (the new CA signs; every leaf re-issued).',
  issue: 'Next: --phase verify, then --phase finish (drops the old CA).',
  finish: 'The old CA is trusted nowhere kpki can see.',
};

const CA = {
  kind: 'ca',
  noun: 'CA',
  newSignerFlags: '--new-ca-cert/--new-ca-key',
  finishWaitsForTokens: false,
  nextStep: CA_NEXT_STEP,
} as const;

export const ROTATION_PROFILES: Record<RotatableCa, RotationProfile> = {
  ca: {
    ...CA,
    name: 'ca',
    trustedByWorkers: true,
    inClusterInfo: true,
    signerFirstStep: true,
    servedBy: 'kube-apiserver',
    servedText: 'every kube-apiserver serves a chain of the new CA',
    issueGates: ['kubelets-trust'],
  },
  'front-proxy-ca': {
    ...CA,
    name: 'front-proxy-ca',
    trustedByWorkers: false,
    inClusterInfo: false,
    signerFirstStep: false,
    issueGates: [],
  },
  'etcd-ca': {
    ...CA,
    name: 'etcd-ca',
    trustedByWorkers: false,
    inClusterInfo: false,
    signerFirstStep: false,
    servedBy: 'etcd',
    servedText: 'every etcd member serves a chain of the new CA',
    issueGates: ['etcd-members-trust'],
  },
  sa: {
    name: 'sa',
    kind: 'key',
    noun: 'key',
    newSignerFlags: '--new-ca-key',
    trustedByWorkers: false,
    inClusterInfo: false,
    signerFirstStep: false,
    issueGates: ['api-servers-verify'],
    finishWaitsForTokens: true,
    nextStep: {
      trust: 'Next: --phase issue (the new key signs tokens).',
      issue: "Next: --phase verify, then --phase finish once pods' tokens were renewed with the new key (--token-overlap, 1 h by default).",
      finish: 'Tokens signed by the old key are refused now: legacy token Secrets it signed must be re-created.',
    },
  },
};

export const profileOf = (name: RotatableCa): RotationProfile => ROTATION_PROFILES[name];
