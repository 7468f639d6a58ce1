// etcd as Kubespray installs it by default (`etcd_deployment_type: host`): a systemd service, etcd.service, that reads
// its settings from /etc/etcd.env, and its certificates in /etc/ssl/etcd/ssl as Kubespray's make-ssl-etcd.sh makes
// them with openssl: member-<host>.pem (etcd's serving and peer certificate), admin-<host>.pem (etcdctl's),
// node-<host>.pem (kube-apiserver's client), each `CN=etcd-<kind>-<host>`, extendedKeyUsage clientAuth + serverAuth,
// and one subjectAltName list for all of them: localhost, every etcd host's name and address, 127.0.0.1.
// Differences kept on purpose: kpki's own CA (kubeadm's shape, not `openssl req -x509`'s), the cluster's key
// algorithm, leaves valid as long as the other leaves (Kubespray: 100 years), and each node holds its own member and
// admin certificates only (Kubespray copies every etcd host's to each).
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { certificateToPem } from '../pki/certificate.js';
import { OIDS } from '../pki/der.js';
import { distinguishedName, issueCertificate, leafExtensions } from '../pki/issue.js';
import { generatePrivateKey, privateKeyToPem } from '../pki/keys.js';
import type { LabCas } from './cluster-cas.js';

export const ETCD_SSL = '/etc/ssl/etcd/ssl';
export const ETCD_ENV_FILE = '/etc/etcd.env';
export const ETCD_UNIT_FILE = '/etc/systemd/system/etcd.service';

export interface EtcdMember {
  /** The inventory host name (the certificates' names). */
  host: string;
  address: string;
}

export interface KubesprayEtcdOptions {
  self: EtcdMember;
  members: EtcdMember[];
  /** Where node-local /etc files go (etcd.env, the unit): the node's own /etc, not the tree, when the two differ. */
  etcRoot: string;
  notBefore: Date;
  notAfter: Date;
}

/** Kubespray's member name: etcd1, etcd2, ... in the inventory's order. */
export const memberName = (members: EtcdMember[], m: EtcdMember) => `etcd${members.indexOf(m) + 1}`;

function write(root: string, path: string, data: string, mode: number): void {
  const real = join(root, path);
  mkdirSync(dirname(real), { recursive: true, mode: 0o700 });
  writeFileSync(real, data, { mode });
  chmodSync(real, mode);
}

/**
 * What kube-apiserver's etcd flags name on such a node. Kubespray lists every member in inventory order; here the
 * node's own comes first, because the lab's API server stand-in talks to the first only (kube-apiserver's etcd client
 * fails over between them all).
 */
export function kubesprayEtcdClient(self: EtcdMember, members: EtcdMember[]) {
  return {
    ca: `${ETCD_SSL}/ca.pem`,
    cert: `${ETCD_SSL}/node-${self.host}.pem`,
    key: `${ETCD_SSL}/node-${self.host}-key.pem`,
    servers: [self, ...members.filter((m) => m !== self)].map((m) => `https://${m.address}:2379`).join(','),
  };
}

export async function writeKubesprayEtcd(root: string, cas: LabCas, o: KubesprayEtcdOptions): Promise<void> {
  write(root, `${ETCD_SSL}/ca.pem`, certificateToPem(cas.etcdCa.cert), 0o644);
  write(root, `${ETCD_SSL}/ca-key.pem`, privateKeyToPem(cas.etcdCa.key), 0o600);
  const sans = {
    dnsNames: ['localhost', ...o.members.map((m) => m.host)],
    ipAddresses: [...o.members.map((m) => m.address), '127.0.0.1'],
  };
  // openssl's ssl_client section: no keyUsage (the request's is not copied), basicConstraints CA:FALSE
  const extensions = leafExtensions({ commonName: '', ...sans, extKeyUsages: ['clientAuth', 'serverAuth'] }).filter(
    (e) => e.oid !== OIDS.keyUsage,
  );
  await Promise.all(
    ['member', 'admin', 'node'].map(async (kind) => {
      const key = await generatePrivateKey(cas.keyAlgorithm);
      const cert = await issueCertificate({
        subject: distinguishedName(`etcd-${kind}-${o.self.host}`),
        extensions,
        publicKey: key,
        notBefore: o.notBefore,
        notAfter: o.notAfter,
        signer: cas.etcdCa,
      });
      write(root, `${ETCD_SSL}/${kind}-${o.self.host}.pem`, certificateToPem(cert), 0o640);
      write(root, `${ETCD_SSL}/${kind}-${o.self.host}-key.pem`, privateKeyToPem(key), 0o600);
    }),
  );
  write(o.etcRoot, ETCD_ENV_FILE, etcdEnv(o), 0o640);
  write(o.etcRoot, ETCD_UNIT_FILE, ETCD_UNIT, 0o644);
}

/**
 * Kubespray's roles/etcd/templates/etcd.env.j2 (its defaults). Lab nodes share one network namespace, so etcd listens
 * for clients on the node's address only, not also on 127.0.0.1 as Kubespray's does.
 */
function etcdEnv(o: KubesprayEtcdOptions): string {
  const member = `member-${o.self.host}`;
  const cluster = o.members.map((m) => `${memberName(o.members, m)}=https://${m.address}:2380`).join(',');
  return `# Environment file for etcd v3.4.23
ETCD_DATA_DIR=/var/lib/etcd
ETCD_ADVERTISE_CLIENT_URLS=https://${o.self.address}:2379
ETCD_INITIAL_ADVERTISE_PEER_URLS=https://${o.self.address}:2380
ETCD_INITIAL_CLUSTER_STATE=new
ETCD_METRICS=basic
ETCD_LISTEN_CLIENT_URLS=https://${o.self.address}:2379
ETCD_ELECTION_TIMEOUT=5000
ETCD_HEARTBEAT_INTERVAL=250
ETCD_INITIAL_CLUSTER_TOKEN=k8s_etcd
ETCD_LISTEN_PEER_URLS=https://${o.self.address}:2380
ETCD_NAME=${memberName(o.members, o.self)}
ETCD_PROXY=off
ETCD_INITIAL_CLUSTER=${cluster}
ETCD_AUTO_COMPACTION_RETENTION=8
ETCD_SNAPSHOT_COUNT=10000

# TLS settings
ETCD_TRUSTED_CA_FILE=${ETCD_SSL}/ca.pem
ETCD_CERT_FILE=${ETCD_SSL}/${member}.pem
ETCD_KEY_FILE=${ETCD_SSL}/${member}-key.pem
ETCD_CLIENT_CERT_AUTH=true

ETCD_PEER_TRUSTED_CA_FILE=${ETCD_SSL}/ca.pem
ETCD_PEER_CERT_FILE=${ETCD_SSL}/${member}.pem
ETCD_PEER_KEY_FILE=${ETCD_SSL}/${member}-key.pem
ETCD_PEER_CLIENT_CERT_AUTH=True

`;
}

/** Kubespray's roles/etcd/templates/etcd-host.service.j2 for an etcd host (bin_dir /usr/local/bin). */
const ETCD_UNIT = `[Unit]
Description=etcd
After=network.target

[Service]
Type=notify
User=root
EnvironmentFile=/etc/etcd.env
ExecStart=/usr/local/bin/etcd
NotifyAccess=all
Restart=always
RestartSec=10s
LimitNOFILE=40000

[Install]
WantedBy=multi-user.target
`;
