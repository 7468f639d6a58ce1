// Before a new etcd-ca signs anything: does every running etcd member accept it? etcd reads its trusted CAs only at
// start, so a bundle on disk says nothing about a member that was not restarted since it was written (the trust
// phase run by hand, a restart that never happened). A throwaway client certificate of the new CA, made in memory and
// never written, is presented to every member's client and peer ports with a real request (in TLS 1.3 a refused
// client certificate shows only after the handshake).
import { httpGet } from '../api/http.js';
import { certificateToPem } from '../pki/certificate.js';
import { distinguishedName, issueCertificate, leafExtensions } from '../pki/issue.js';
import { generatePrivateKey, privateKeyToPem } from '../pki/keys.js';
import type { CaPair } from '../pki/successor-ca.js';
import { readServices } from '../service/health.js';
import { servedEndpoints } from '../service/served.js';
import type { ClusterMember } from './operation.js';

const PROBE = 'kpki-trust-probe';

/** Members whose etcd does not accept a client certificate of `signer` yet: one line each, with what to do. */
export async function etcdTrustProblems(members: ClusterMember[], signer: CaPair, kubeconfigDir?: string): Promise<string[]> {
  const key = await generatePrivateKey('ECDSA-P256');
  const now = Date.now();
  const cert = await issueCertificate({
    subject: distinguishedName(PROBE),
    extensions: leafExtensions({ commonName: PROBE, extKeyUsages: ['clientAuth', 'serverAuth'] }),
    publicKey: key,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 10 * 60_000),
    signer,
  });
  const client = { cert: Buffer.from(certificateToPem(cert)), key: Buffer.from(privateKeyToPem(key)) };
  const problems: string[] = [];
  for (const m of members) {
    const services = await readServices(m.host, kubeconfigDir);
    for (const e of await servedEndpoints(m.host, services, 'etcd')) {
      const url = `https://${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}/version`;
      try {
        await httpGet(url, { ...client, insecure: true, timeoutMs: 3000, via: services.dial });
      } catch (err) {
        problems.push(
          `${m.node.name}: etcd's ${e.what} refuses a certificate of the new CA (${(err as Error).message}): it has not been restarted since the bundle was written; restart it (kpki restart etcd kube-apiserver on the node, one node at a time)`,
        );
      }
    }
  }
  return problems;
}
