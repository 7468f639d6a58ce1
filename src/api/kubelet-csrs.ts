// With serverTLSBootstrap the kubelet asks the cluster for its serving certificate through a CertificateSigningRequest
// (signer kubernetes.io/kubelet-serving) that nobody approves by default (kubeadm does not): a pending one means the
// kubelet waits, and its serving certificate may run out. Asked through the API with the node's own credentials.
import { certificateToPem } from '../pki/certificate.js';
import { privateKeyToPem } from '../pki/keys.js';
import type { NodeScan, ServingCsrStatus } from '../node/scan/index.js';
import { apiGet, ApiAccess } from './client.js';
import { describeNetworkError } from './http.js';

interface CsrObject {
  metadata?: { name?: string; creationTimestamp?: string };
  spec?: { username?: string; signerName?: string };
  status?: { conditions?: { type: string }[] };
}

/** Whether the node's kubelet gets its serving certificate from the cluster (kubelet-server-current.pem). */
export function usesServerTlsBootstrap(scan: NodeScan): boolean {
  return scan.entries.some((e) => e.name === 'kubelet-serving' && e.slot.kind === 'combined');
}

/** Credentials of the node that may list CSRs: admin.conf where the node has it, else the kubelet's own. */
function accessOf(scan: NodeScan): { access: ApiAccess; via: string } | undefined {
  for (const name of ['admin.conf', 'kubelet.conf', 'kubelet-client']) {
    const e = scan.entries.find((x) => x.name === name);
    const server = e?.kubeconfig?.server;
    if (!e?.cert || !(e.key || e.keyPem) || !server) continue;
    const ca = e.kubeconfig?.certificateAuthorityData;
    return {
      access: {
        server: server.replace(/\/$/, ''),
        ca,
        cert: Buffer.from(certificateToPem(e.cert)),
        key: e.key ? Buffer.from(privateKeyToPem(e.key)) : e.keyPem,
      },
      via: `${e.path} (${e.cert.commonName})`,
    };
  }
  return undefined;
}

/** The node's name as the API knows it: from the kubelet's client certificate (CN=system:node:<name>). */
export function kubeletNodeName(scan: NodeScan): string {
  const cn = scan.entries.find((e) => (e.name === 'kubelet-client' || e.name === 'kubelet.conf') && e.cert)?.cert?.commonName ?? '';
  return cn.startsWith('system:node:') ? cn.slice('system:node:'.length) : scan.node;
}

/** Pending kubelet-serving CSRs of this node (the caller asks only where serverTLSBootstrap is used). */
export async function pendingServingCsrs(scan: NodeScan, timeoutMs = 2000): Promise<ServingCsrStatus> {
  const nodeName = kubeletNodeName(scan);
  const found = accessOf(scan);
  if (!found) return { checked: false, pending: [], error: 'no kubeconfig with a client certificate on this node to ask the API with' };
  const path = `/apis/certificates.k8s.io/v1/certificatesigningrequests?fieldSelector=${encodeURIComponent('spec.signerName=kubernetes.io/kubelet-serving')}`;
  try {
    const res = await apiGet(found.access, path, timeoutMs);
    if (res.status !== 200)
      return { checked: false, via: found.via, pending: [], error: `HTTP ${res.status} listing CSRs as ${found.via}` };
    const items = (res.json?.items ?? []) as CsrObject[];
    const pending = items
      .filter((c) => c.spec?.signerName === 'kubernetes.io/kubelet-serving' && c.spec?.username === `system:node:${nodeName}`)
      .filter((c) => !(c.status?.conditions ?? []).some((x) => ['Approved', 'Denied', 'Failed'].includes(x.type)))
      .map((c) => ({ name: c.metadata?.name ?? '?', username: c.spec!.username!, createdAt: c.metadata?.creationTimestamp }));
    return { checked: true, via: found.via, pending };
  } catch (err) {
    return {
      checked: false,
      via: found.via,
      pending: [],
      error: `the API server ${found.access.server} is not reachable: ${describeNetworkError(err)}`,
    };
  }
}
