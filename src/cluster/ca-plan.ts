// kpki ca plan: the blast radius of rotating one CA, before anything changes. Per node from its files (what trusts
// the CA, what it signed, what restarts in each phase), the API's view when it answers, what kpki cannot see, and
// what each phase of `kpki ca rotate` will do. Read-only: works the same on a mounted disk, a local node, or -i.
import { posix } from 'node:path';
import { ApiBlastRadius, apiBlastRadius } from '../api/ca-objects.js';
import { apiAccessOf } from '../api/client.js';
import { expiredCaMessage, type RotatableCa } from '../kubeadm/ca-trust.js';
import type { Host } from '../hosts/host.js';
import { blastRadius, NodeBlastRadius } from '../node/rotation/index.js';
import { scanNode, ScanOptions } from '../node/scan/index.js';
import type { Certificate } from '../pki/certificate.js';

export interface PlannedNode {
  /** The inventory name (default: the kubelet's node name, as the scan finds it). */
  name?: string;
  host?: Host;
  /** Why it could not be reached. */
  error?: string;
}

export interface CaPlan {
  ca: RotatableCa;
  nodes: NodeBlastRadius[];
  unreachable: { node: string; error: string }[];
  api?: ApiBlastRadius;
  /** Why the API's view is missing (not asked with --root, no admin.conf, refused). */
  apiMissing?: string;
  /** The CA differs between control-plane nodes (a rotation needs one CA first). */
  differences: string[];
  /** The CA has expired: nothing old is trusted any more, so it cannot be bridged. */
  expired: boolean;
  phases: { phase: string; does: string[] }[];
  outside: string[];
}

async function apiView(nodes: { host: Host; scan: Awaited<ReturnType<typeof scanNode>> }[], caName: RotatableCa, ca?: Certificate) {
  if (caName === 'etcd-ca') return { apiMissing: 'etcd-ca is not in the API: nothing there trusts it' };
  const cp = nodes.find((n) => n.scan.role === 'control-plane');
  if (!cp) return { apiMissing: 'no control-plane node to read admin.conf from' };
  const path = posix.join(cp.scan.kubeconfigDir, 'admin.conf');
  try {
    const access = apiAccessOf((await cp.host.readFile(path)).toString());
    return { api: await apiBlastRadius(access, `${cp.host.describe(path)} → ${access.server}`, caName, ca) };
  } catch (err) {
    return { apiMissing: `the API did not answer with ${cp.host.describe(path)}: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** The CA certificate every control-plane node holds; the differences when they do not agree. */
function agreedCa(nodes: NodeBlastRadius[], scans: Awaited<ReturnType<typeof scanNode>>[], caName: RotatableCa) {
  const byHash = new Map<string, string[]>();
  let cert: Certificate | undefined;
  scans.forEach((s, i) => {
    const c = s.cas.find((e) => e.name === caName)?.cert;
    if (!c || nodes[i].role !== 'control-plane') return;
    cert ??= c;
    byHash.set(c.spkiSha256 + c.serial, [...(byHash.get(c.spkiSha256 + c.serial) ?? []), s.node]);
  });
  const differences =
    byHash.size > 1 ? [`${caName} differs between control-plane nodes: ${[...byHash.values()].map((n) => n.join(', ')).join(' vs ')}`] : [];
  return { cert, differences };
}

export async function planCaRotation(
  targets: PlannedNode[],
  caName: RotatableCa,
  o: { scan: ScanOptions; askApi: boolean; now?: Date },
): Promise<CaPlan> {
  const reached = targets.filter((t) => t.host);
  const scans = await Promise.all(reached.map((t) => scanNode(t.host!, o.scan)));
  const nodes = await Promise.all(
    reached.map((t, i) => blastRadius(t.host!, { ...scans[i], node: t.name ?? scans[i].node }, caName, o.now)),
  );
  const { cert, differences } = agreedCa(nodes, scans, caName);
  const view = o.askApi
    ? await apiView(
        reached.map((t, i) => ({ host: t.host!, scan: scans[i] })),
        caName,
        cert,
      )
    : { apiMissing: 'not asked (one node: files only; -i also asks the API)' };
  const expired = nodes.some((n) => n.ca.expired);
  return {
    ca: caName,
    nodes,
    unreachable: targets.filter((t) => !t.host).map((t) => ({ node: t.name ?? '?', error: t.error ?? 'not reached' })),
    ...view,
    differences,
    expired,
    phases: phasesOf(caName, nodes, expired),
    outside: outsideOf(caName, cert),
  };
}

function phasesOf(caName: RotatableCa, nodes: NodeBlastRadius[], expired: boolean): CaPlan['phases'] {
  const expiredAt = nodes.find((n) => n.ca.expired)?.ca;
  if (expired && expiredAt?.notAfter)
    return [
      {
        phase: 'none',
        does: [expiredCaMessage(caName, expiredAt.path, new Date(expiredAt.notAfter))],
      },
    ];
  const restarts = (phase: 'trust' | 'issue' | 'finish') =>
    nodes.map((n) => `${n.node}: ${n.restarts[phase].length ? n.restarts[phase].join(', ') : 'nothing'}`).join('; ');
  const bundle = caName === 'sa' ? 'old and new public keys side by side' : 'a bundle of old and new CA certificates';
  const signer =
    caName === 'sa'
      ? 'the new private key signs tokens (kube-apiserver --service-account-signing-key-file, controller-manager --service-account-private-key-file); old tokens still verify'
      : `the new ${caName} signs; every certificate it signed is re-issued, one control-plane node at a time behind the health gates of renew -i${caName === 'ca' ? ", then every worker's kubelet client certificate" : ''}`;
  return [
    {
      phase: 'trust',
      does: [`every place above that trusts ${caName} gets ${bundle}`, `restarts, one node at a time: ${restarts('trust')}`],
    },
    { phase: 'issue', does: [signer, `restarts, one node at a time: ${restarts('issue')}`] },
    {
      phase: 'verify',
      does: [
        `every served chain and client certificate kpki can see comes from the new ${caName}; the report lists what still uses the old one`,
      ],
    },
    { phase: 'finish', does: [`the old ${caName} is dropped from every bundle`, `restarts, one node at a time: ${restarts('finish')}`] },
  ];
}

function outsideOf(caName: RotatableCa, cert?: Certificate): string[] {
  switch (caName) {
    case 'ca':
      return [
        'kubeconfigs outside the cluster (users, CI, monitoring) trust the old CA in certificate-authority-data and hold client certificates it signed: they stop trusting the API servers at issue (new serving certificates) and their client certificates are refused after finish; give them the new CA between trust and issue and new credentials before finish (kpki kubeconfig update, or issue new ones)',
        `join commands: --discovery-token-ca-cert-hash ${cert ? `sha256:${cert.spkiSha256}` : '(the CA is missing)'} changes; kpki ca rotate prints the new hash, kpki token create --print-join-command uses it`,
        'pods that read kube-root-ca.crt only at start (kube-proxy, CoreDNS, operators) need a restart between trust and finish',
      ];
    case 'front-proxy-ca':
      return [
        'aggregated API servers (metrics-server and others) read extension-apiserver-authentication on change (Kubernetes 1.17+); older ones need a restart after trust and after finish',
      ];
    case 'etcd-ca':
      return [
        'etcd clients outside the cluster (backup jobs, etcdctl scripts, monitoring) trust the old etcd-ca: update them before finish',
      ];
    case 'sa':
      return [
        'service-account tokens held outside the cluster (CI with legacy token Secrets) stop working at finish: re-issue them after issue',
      ];
  }
}
