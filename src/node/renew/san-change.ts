// Changing what a certificate is valid for (kpki san): who still uses a name that would go.
import { SanChange, splitSan } from './plan.js';
import type { NodeScan } from '../scan/index.js';

/** The host part of a URL or host:port, as a certificate would have to name it. */
function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint.includes('://') ? endpoint : `https://${endpoint}`).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return endpoint;
  }
}

/** Where the names that `change` removes are still used on this node: kubeconfig servers, the endpoint, advertise addresses. */
export function namesInUse(scan: NodeScan, change: SanChange): string[] {
  const removed = new Set(change.remove.map((n) => splitSan(n)[1]));
  const uses: string[] = [];
  const use = (host: string | undefined, where: string) => {
    if (host && removed.has(hostOf(host))) uses.push(`${hostOf(host)}: ${where}`);
  };
  if (change.cert === 'apiserver') {
    for (const e of scan.entries)
      if (e.kubeconfig?.server)
        use(e.kubeconfig.server, `the server of ${e.slot.kind === 'kubeconfig' ? e.path : `the kubeconfig of ${e.name}`}`);
    use(scan.settings?.controlPlaneEndpoint, `controlPlaneEndpoint in ${scan.settingsPath}`);
    use(
      scan.manifests.find((p) => p.component === 'kube-apiserver')?.flags.get('advertise-address'),
      "kube-apiserver's --advertise-address",
    );
  } else {
    const etcd = scan.manifests.find((p) => p.component === 'etcd');
    const flag = change.cert === 'etcd-server' ? 'advertise-client-urls' : 'initial-advertise-peer-urls';
    for (const url of (etcd?.flags.get(flag) ?? '').split(',').filter(Boolean)) use(url, `etcd's --${flag}`);
  }
  return uses;
}
