// Writes a lab cluster's files: node trees (kubeadm layout from src/lab), per-node hosts/resolv.conf, sshd config and
// host keys, the kubelet stand-in's config. Nothing here starts a process.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeClusterCas } from '../src/lab/cluster-cas.js';
import { buildControlPlaneNode, buildWorkerNode } from '../src/lab/node-tree.js';
import type { KeyAlgorithm } from '../src/pki/keys.js';
import type { NodeConfig } from './standins/node.js';

export type Role = 'control-plane' | 'worker';

export interface NodeInfo {
  index: number;
  name: string;
  address: string;
  role: Role;
  /** The node's own directory on the host: root/ (its filesystem tree), logs/, ssh/, node.json. */
  dir: string;
}

export interface LabLayout {
  id: string;
  dir: string;
  baseOctet: number;
  /** The control-plane endpoint (load balancer) address and port. */
  endpoint: { address: string; port: number };
  nodes: NodeInfo[];
  sshKey: string;
  knownHosts: string;
}

export interface SetupOptions {
  controlPlanes: number;
  workers: number;
  baseOctet: number;
  keyAlgorithm: KeyAlgorithm;
  syncMs: number;
  exitWithStdin: boolean;
  standinsScript: string;
  /** Nodes with only sshd and their tree (no kubelet, no pods): many of them for the cluster-check benchmark. */
  sshOnly?: boolean;
}

/** Paths bind-mounted from the node's tree over the same path inside the node (besides /etc/hosts, resolv.conf). */
// /etc/ssl/etcd is Kubespray's and KubeKey's etcd certificate directory (empty unless a test or benchmark fills it).
export const NODE_PATHS = ['/etc/kubernetes', '/var/lib/kubelet', '/var/lib/etcd', '/etc/ssl/etcd', '/var/lib/kpki', '/root'];

const loopback = (octet: number) => {
  if (octet < 2 || octet > 254) throw new Error(`lab address 127.0.0.${octet} is out of range`);
  return `127.0.0.${octet}`;
};

export function labNodes(dir: string, o: Pick<SetupOptions, 'controlPlanes' | 'workers' | 'baseOctet'>): NodeInfo[] {
  const nodes: NodeInfo[] = [];
  for (let i = 1; i <= o.controlPlanes + o.workers; i++) {
    const role: Role = i <= o.controlPlanes ? 'control-plane' : 'worker';
    const name = role === 'control-plane' ? `lab-cp${i}` : `lab-w${i - o.controlPlanes}`;
    nodes.push({ index: i, name, address: loopback(o.baseOctet + i), role, dir: join(dir, 'nodes', name) });
  }
  return nodes;
}

function sshKeygen(path: string, comment: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  return readFileSync(`${path}.pub`, 'utf8').trim();
}

function sshdConfig(node: NodeInfo, authorizedKeys: string): string {
  return [
    `ListenAddress ${node.address}:22`,
    `HostKey ${node.dir}/ssh/ssh_host_ed25519_key`,
    `PidFile ${node.dir}/ssh/sshd.pid`,
    // the lab's key for root; a test's login user who is not root brings its own in its home
    `AuthorizedKeysFile ${authorizedKeys} .ssh/authorized_keys`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    // host keys and authorized_keys live under the lab's temp dir, which sshd's strict mode would refuse
    'StrictModes no',
    'PrintMotd no',
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

export async function writeLab(dir: string, id: string, o: SetupOptions): Promise<LabLayout> {
  const nodes = labNodes(dir, o);
  const endpoint = { address: loopback(o.baseOctet), port: 6443 };
  const controlPlanes = nodes.filter((n) => n.role === 'control-plane');
  const initialCluster = controlPlanes.map((n) => `${n.name}=https://${n.address}:2380`).join(',');
  const cas = await makeClusterCas({ keyAlgorithm: o.keyAlgorithm });
  const controlPlaneEndpoint = `${endpoint.address}:${endpoint.port}`;

  mkdirSync(join(dir, 'ssh'), { recursive: true, mode: 0o700 });
  const sshKey = join(dir, 'ssh', 'id_ed25519');
  const authorizedKeys = join(dir, 'ssh', 'authorized_keys');
  writeFileSync(authorizedKeys, `${sshKeygen(sshKey, `kpki-lab-${id}`)}\n`, { mode: 0o600 });
  const knownHosts: string[] = [];
  const hosts = ['127.0.0.1 localhost', '::1 localhost ip6-localhost', `${endpoint.address} lab-api`, ...nodes.map((n) => `${n.address} ${n.name}`), ''].join('\n');

  await Promise.all(
    nodes.map(async (node) => {
      const root = join(node.dir, 'root');
      for (const sub of ['logs', 'ssh']) mkdirSync(join(node.dir, sub), { recursive: true, mode: 0o700 });
      const treeOptions = { nodeName: node.name, address: node.address, controlPlaneEndpoint, localAddress: node.address, initialCluster, certSans: ['lab-api'], initNode: node.index === 1 };
      if (node.role === 'control-plane') await buildControlPlaneNode(root, cas, treeOptions);
      else await buildWorkerNode(root, cas, treeOptions);
      for (const path of NODE_PATHS) mkdirSync(join(root, path), { recursive: true, mode: 0o700 });
      writeFileSync(join(node.dir, 'hosts'), hosts);
      writeFileSync(join(node.dir, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
      knownHosts.push(`${node.address} ${sshKeygen(join(node.dir, 'ssh', 'ssh_host_ed25519_key'), node.name).split(' ').slice(0, 2).join(' ')}`);
      writeFileSync(join(node.dir, 'ssh', 'sshd_config'), sshdConfig(node, authorizedKeys));
      const config: NodeConfig = {
        labId: id,
        name: node.name,
        address: node.address,
        mounts: [...NODE_PATHS.map((p): [string, string] => [join(root, p), p]), [join(node.dir, 'hosts'), '/etc/hosts'], [join(node.dir, 'resolv.conf'), '/etc/resolv.conf']],
        sshdConfig: join(node.dir, 'ssh', 'sshd_config'),
        logDir: join(node.dir, 'logs'),
        exitWithStdin: o.exitWithStdin,
        sshOnly: o.sshOnly,
        kubelet: {
          nodeName: node.name,
          address: node.address,
          role: node.role,
          manifestsDir: '/etc/kubernetes/manifests',
          kubeconfig: '/etc/kubernetes/kubelet.conf',
          statusFile: join(node.dir, 'kubelet-status.json'),
          logDir: join(node.dir, 'logs'),
          syncMs: o.syncMs,
          standinsScript: o.standinsScript,
          kubeletVersion: 'v1.29.0',
        },
      };
      writeFileSync(join(node.dir, 'node.json'), JSON.stringify(config, null, 2));
    }),
  );
  const knownHostsFile = join(dir, 'ssh', 'known_hosts');
  writeFileSync(knownHostsFile, `${knownHosts.sort().join('\n')}\n`);
  return { id, dir, baseOctet: o.baseOctet, endpoint, nodes, sshKey, knownHosts: knownHostsFile };
}
