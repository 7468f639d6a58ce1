// What a cluster operation takes from the control-plane nodes, into memory only: the cluster CA with its key (to sign
// kubelet certificates for workers) and the admin credentials (to ask the API server about nodes).
import { posix } from 'node:path';
import { DEFAULT_KUBECONFIG_DIR } from '../kubeadm/catalog.js';
import { scanNode, ScanOptions } from '../node/scan/index.js';
import type { SshHost } from '../hosts/ssh.js';
import { apiAccessOf, ApiAccess } from '../api/client.js';

/** The cluster CA with its key, from the first control-plane node that has both (kept in memory only). */
export async function clusterCa(cps: { host: SshHost }[], scan: ScanOptions) {
  for (const m of cps) {
    const ca = (await scanNode(m.host, scan)).cas.find((c) => c.name === 'ca');
    if (ca?.cert && ca.key) return { cert: ca.cert, key: ca.key };
  }
  return undefined;
}

/** The admin credentials of the cluster as a control-plane node now has them (after its renewal). */
export async function adminAccess(
  cps: { host: SshHost }[],
  scan: ScanOptions,
): Promise<{ access: ApiAccess; text: string; from: string } | undefined> {
  for (const m of cps) {
    const path = posix.join(scan.kubeconfigDir ?? DEFAULT_KUBECONFIG_DIR, 'admin.conf');
    try {
      const text = (await m.host.readFile(path)).toString();
      return { access: apiAccessOf(text), text, from: m.host.describe(path) };
    } catch {
      /* the next node */
    }
  }
  return undefined;
}
