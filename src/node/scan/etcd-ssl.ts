// Kubespray / KubeKey etcd layout: /etc/ssl/etcd/ssl/{ca,admin-<host>,member-<host>,node-<host>}.pem with -key.pem keys.
import { posix } from 'node:path';
import type { Host } from '../../hosts/host.js';
import { ETCD_SSL_DIR } from '../../kubeadm/catalog.js';
import type { CaEntry, CertEntry } from './result.js';
import { readCa, readPairEntry } from './entries.js';
import type { KeyLoading } from './read.js';

export async function scanEtcdSsl(
  host: Host,
  kubeadmCas: CaEntry[],
  knownPaths: Set<string>,
  keys: KeyLoading,
): Promise<{ cas: CaEntry[]; leaves: CertEntry[] }> {
  const files = await host.list(ETCD_SSL_DIR);
  if (!files.includes('ca.pem')) return { cas: [], leaves: [] };
  const caPath = posix.join(ETCD_SSL_DIR, 'ca.pem');
  const kubeadmEtcdCa = kubeadmCas.find((c) => c.name === 'etcd-ca' && !c.missing);
  // kube-apiserver's --etcd-cafile names this very file (Kubespray's external etcd): one CA, already read as etcd-ca
  const same = kubeadmEtcdCa?.certPath === caPath;
  const caName = kubeadmEtcdCa && !same ? 'etcd-ssl-ca' : 'etcd-ca';
  const ca = same ? undefined : await readCa(host, caName, caPath, posix.join(ETCD_SSL_DIR, 'ca-key.pem'), keys);
  const leaves: CertEntry[] = [];
  for (const file of files) {
    const match = /^(admin|member|node)-(.+)\.pem$/.exec(file);
    if (!match || file.endsWith('-key.pem')) continue;
    const certPath = posix.join(ETCD_SSL_DIR, file);
    if (knownPaths.has(certPath)) continue;
    leaves.push(
      await readPairEntry(
        host,
        {
          name: `etcd-${match[1]}-${match[2]}`,
          certPath,
          keyPath: posix.join(ETCD_SSL_DIR, `${match[1]}-${match[2]}-key.pem`),
          expectedCa: caName,
          kubeadm: false,
          source: `etcd ssl dir (${ETCD_SSL_DIR})`,
        },
        keys,
      ),
    );
  }
  return { cas: ca ? [ca] : [], leaves };
}
