// Before a new etcd-ca signs anything: does every running etcd member accept it? etcd reads its trusted CAs only at
// start, so a bundle on disk says nothing about a member that was not restarted since it was written (the trust
// phase run by hand, a restart that never happened). A throwaway client certificate of the new CA, made in memory and
// never written, is presented to every member's client and peer ports with a real request (in TLS 1.3 a refused
// client certificate shows only after the handshake); and to the client port of every member kube-apiserver or etcd
// names that no node of the inventory runs (an external etcd, Kubespray's etcd-only hosts), which kpki cannot restart.
import { describeNetworkError, httpGet } from '../api/http.js';
import { certificateToPem } from '../pki/certificate.js';
import { distinguishedName, issueCertificate, leafExtensions } from '../pki/issue.js';
import { generatePrivateKey, privateKeyToPem } from '../pki/keys.js';
import type { CaPair } from '../pki/successor-ca.js';
import { type NodeServices, readServices } from '../service/health.js';
import { servedEndpoints } from '../service/served.js';
import { etcdAccess, memberList } from '../service/etcd.js';
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
  const asked = new Set<string>();
  const ask = async (url: string, services: NodeServices) => {
    asked.add(url);
    try {
      await httpGet(`${url}/version`, { ...client, insecure: true, timeoutMs: 3000, via: services.dial });
      return undefined;
    } catch (err) {
      return describeNetworkError(err);
    }
  };
  const read = await Promise.all(members.map(async (m) => ({ m, services: await readServices(m.host, kubeconfigDir) })));
  for (const { m, services } of read) {
    for (const e of await servedEndpoints(m.host, services, 'etcd')) {
      const refused = await ask(`https://${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`, services);
      if (refused)
        problems.push(
          `${m.node.name}: etcd's ${e.what} refuses a certificate of the new CA (${refused}): it has not been restarted since the bundle was written; restart it (kpki restart etcd kube-apiserver on the node, one node at a time)`,
        );
    }
  }
  // members that no node of the inventory runs (external etcd, Kubespray's etcd-only hosts): kube-apiserver's new client
  // certificate, and the inventory's members' new peer certificates, would be refused there
  for (const { m, services } of read) {
    const servers = services.pods.get('kube-apiserver')?.flags.get('etcd-servers')?.split(',') ?? [];
    // (and every member etcd itself lists, asked through this node's own member when it runs one)
    const access = await etcdAccess(m.host, services).catch(() => undefined);
    const listed = access ? await memberList(access.endpoint, access.creds).catch(() => []) : [];
    servers.push(...listed.flatMap((member) => member.clientUrls.slice(0, 1)));
    for (const server of servers.map((u) => u.trim().replace(/\/$/, '')).filter((u) => u.startsWith('https://'))) {
      if (asked.has(server)) continue;
      const refused = await ask(server, services);
      if (refused)
        problems.push(
          `${server} (an etcd member named by ${m.node.name}'s kube-apiserver --etcd-servers or etcd's member list) refuses a certificate of the new CA (${refused}): no node of the inventory runs that etcd member, so kpki cannot make it trust the new CA; add its host to the inventory (or make it trust old + new and restart it yourself) before the issue phase`,
        );
    }
  }
  return problems;
}
