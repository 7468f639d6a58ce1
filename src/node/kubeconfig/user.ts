// A new client kubeconfig signed by the cluster CA, like `kubeadm kubeconfig user` (e.g. to recreate super-admin.conf).
import { posix } from 'node:path';
import type { Host } from '../../hosts/host.js';
import { parseKubeconfig, renderKubeconfig } from '../../kubeadm/kubeconfig.js';
import { certificateToPem } from '../../pki/certificate.js';
import { distinguishedName, issueCertificate, leafExtensions } from '../../pki/issue.js';
import { generatePrivateKey, keyAlgorithmOf, KeyAlgorithm, privateKeyToPem } from '../../pki/keys.js';
import { KpkiError, UsageError } from '../../errors.js';
import type { NodeScan } from '../scan/index.js';
import { BACKDATE_MS } from '../renew/index.js';

export interface UserKubeconfigRequest {
  name: string;
  groups: string[];
  validityMs: number;
  server?: string;
  now: Date;
}

export interface UserKubeconfig {
  text: string;
  notAfter: Date;
  capped: boolean;
  server: string;
}

export async function issueUserKubeconfig(host: Host, scan: NodeScan, request: UserKubeconfigRequest): Promise<UserKubeconfig> {
  const ca = scan.cas.find((c) => c.name === 'ca');
  if (!ca?.cert || !ca.key) {
    throw new KpkiError(
      `the cluster CA key ${host.describe(ca?.keyPath ?? posix.join(scan.certDir, 'ca.key'))} is not on this node: run on a control-plane node`,
      { exitCode: 1 },
    );
  }
  let server = request.server;
  let clusterName = 'kubernetes';
  const admin = posix.join(scan.kubeconfigDir, 'admin.conf');
  if (await host.stat(admin)) {
    const identity = parseKubeconfig((await host.readFile(admin)).toString());
    server ??= identity.server;
    clusterName = identity.clusterName ?? clusterName;
  }
  if (!server) throw new UsageError(`no server known (no ${admin}): give --server https://HOST:6443`);
  const algorithm = keyAlgorithmOf(ca.key).startsWith('RSA') ? 'RSA-2048' : 'ECDSA-P256';
  const key = await generatePrivateKey(algorithm as KeyAlgorithm);
  const notBefore = new Date(request.now.getTime() - BACKDATE_MS);
  const wanted = new Date(request.now.getTime() + request.validityMs);
  const capped = wanted > ca.cert.notAfter;
  const notAfter = capped ? ca.cert.notAfter : wanted;
  const cert = await issueCertificate({
    subject: distinguishedName(request.name, request.groups),
    extensions: leafExtensions({ commonName: request.name, organizations: request.groups, extKeyUsages: ['clientAuth'] }),
    publicKey: key,
    notBefore,
    notAfter,
    signer: { cert: ca.cert, key: ca.key },
  });
  const text = renderKubeconfig({
    clusterName,
    server,
    caPem: certificateToPem(ca.cert),
    userName: request.name,
    certPem: certificateToPem(cert),
    keyPem: privateKeyToPem(key),
  });
  return { text, notAfter, capped, server };
}
