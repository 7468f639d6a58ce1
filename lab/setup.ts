// Writes a lab cluster's files: node trees (kubeadm layout from src/lab), per-node hosts/resolv.conf, sshd config and
// host keys, the kubelet stand-in's config. Nothing here starts a process.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { RESTART_REQUEST } from './standins/kubelet.js';
import { unitAnswer, unitRequest } from './standins/units.js';
import { join } from 'node:path';
import { makeClusterCas } from '../src/trees/cluster-cas.js';
import { buildControlPlaneNode, buildWorkerNode } from '../src/trees/node-tree.js';
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
  /** The SSH CA (private key file; .pub beside it) whose user certificates the nodes accept. */
  userCa: string;
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
  /** Every node's sshd allows TCP forwarding and OpenSSH's default sessions (default: every node hardened, see hardening()). */
  plainSsh?: boolean;
  /** etcd as Kubespray runs it: etcd.service with /etc/etcd.env, certificates in /etc/ssl/etcd/ssl (no etcd static pod). */
  etcdService?: boolean;
}

/** The login user every lab node has besides root: passwordless sudo, no TTY needed (sudo -n), as cloud images ship. */
export const LOGIN_USER = { name: 'ops', uid: 1500 };

/**
 * How hardened each node is, as CIS-benchmarked images ship sshd: no node forwards TCP (AllowTcpForwarding no; node
 * 3: PermitOpen to its own port 22 only), and sessions per connection are OpenSSH's default 10 (node 1 and odd
 * nodes) or the 4 CIS often sets (node 2, node 3, even nodes). Node 3 is also a node without python3 (Flatcar-like:
 * bash only), so its probes take a bash relay each, four sessions at most.
 */
export function hardening(node: Pick<NodeInfo, 'index' | 'address'>): { sshd: string[]; withoutPython: boolean } {
  const maxSessions = node.index === 3 || node.index % 2 === 0 ? 4 : 10;
  const forwarding = node.index === 3 ? `PermitOpen ${node.address}:22` : 'AllowTcpForwarding no';
  return { sshd: [forwarding, `MaxSessions ${maxSessions}`], withoutPython: node.index === 3 };
}

/** Bind mounts that hide python3 on a node: /dev/null (not executable) over the interpreter, as if it were not installed. */
function hidePython(): [string, string][] {
  try {
    return [['/dev/null', realpathSync('/usr/bin/python3')]];
  } catch {
    return []; // (no python3 on this machine: no node has it)
  }
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

function sshdConfig(node: NodeInfo, authorizedKeys: string, extra: string[], userCa: string): string {
  return [
    ...extra,
    // user certificates signed by the lab's SSH CA log in too (as where a vault issues SSH access)
    `TrustedUserCAKeys ${userCa}`,
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

/**
 * The node's accounts with LOGIN_USER added: its own passwd, group, shadow and sudoers and a /home holding the user's
 * authorized_keys, bind-mounted in the node's namespace only (the machine's files are not touched).
 */
function loginUser(node: NodeInfo, authorizedKeys: string): [string, string][] {
  const dir = join(node.dir, 'accounts');
  const home = join(dir, 'home', LOGIN_USER.name);
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o755 });
  writeFileSync(join(home, '.ssh', 'authorized_keys'), authorizedKeys, { mode: 0o600 });
  for (const path of [home, join(home, '.ssh'), join(home, '.ssh', 'authorized_keys')]) chownSync(path, LOGIN_USER.uid, LOGIN_USER.uid);
  const { name, uid } = LOGIN_USER;
  const files: Record<string, [string, number]> = {
    passwd: [`${readFileSync('/etc/passwd', 'utf8')}${name}:x:${uid}:${uid}:kpki lab login user:/home/${name}:/bin/sh\n`, 0o644],
    group: [`${readFileSync('/etc/group', 'utf8')}${name}:x:${uid}:\n`, 0o644],
    shadow: [`${readFileSync('/etc/shadow', 'utf8')}${name}:*:20000:0:99999:7:::\n`, 0o640],
    sudoers: [
      `Defaults env_reset\nDefaults secure_path="/usr/sbin:/usr/bin:/sbin:/bin"\nroot ALL=(ALL:ALL) ALL\n${name} ALL=(ALL:ALL) NOPASSWD: ALL\n`,
      0o440,
    ],
  };
  const mounts: [string, string][] = [[join(dir, 'home'), '/home']];
  for (const [file, [text, mode]] of Object.entries(files)) {
    writeFileSync(join(dir, file), text, { mode });
    mounts.push([join(dir, file), `/etc/${file}`]);
  }
  return mounts;
}

/** While this file exists, the node's `systemctl restart kubelet` fails as a unit that does not start again does. */
export const failingUnitMarker = (node: Pick<NodeInfo, 'dir'>) => join(node.dir, 'fail-kubelet-restart');

/**
 * What a node where systemd runs the kubelet has: /run/systemd/system (how systemctl and kpki tell systemd is running)
 * and a systemctl that restarts the kubelet (here: the kubelet stand-in, through a request file it watches). Other
 * units are acknowledged and left alone. Only where the machine has the paths to mount over.
 */
function systemd(node: NodeInfo, units: string[]): [string, string][] {
  if (!existsSync('/run/systemd') || !existsSync('/usr/bin/systemctl')) {
    if (units.length)
      throw new Error(`a lab node running ${units.join(', ')} as systemd services needs /run/systemd and /usr/bin/systemctl to mount over`);
    return [];
  }
  // systemctl restart <unit> returns once the service is back (units.ts answers the request with its token)
  const unitCases = units
    .map(
      (u) => `      ${u}|${u}.service) token=$$-$(date +%s%N); echo "$token" > ${unitRequest(u)}; i=0
        while [ "$(cat ${unitAnswer(u)} 2>/dev/null)" != "$token" ]; do
          i=$((i+1)); [ $i -gt 900 ] && { echo "Job for ${u}.service failed." >&2; exit 1; }; sleep 0.1
        done; exit 0 ;;
`,
    )
    .join('');
  const run = join(node.dir, 'run-systemd');
  mkdirSync(join(run, 'system'), { recursive: true, mode: 0o755 });
  const shim = join(node.dir, 'systemctl');
  writeFileSync(
    shim,
    `#!/bin/sh
# the kpki lab's systemctl for ${node.name}: systemd does not run here; restarting the kubelet restarts its stand-in
unit=$2
[ "$1" = "--now" ] && unit=$3
case "$1" in
  restart|try-restart|reload-or-restart)
    case "$unit" in
      kubelet|kubelet.service)
        # a unit that does not come back, when a test asks for one (its marker in the node's directory)
        if [ -e ${failingUnitMarker(node)} ]; then echo "Job for kubelet.service failed because the control process exited with error code." >&2; exit 1; fi
        : > ${RESTART_REQUEST}; sleep 1; exit 0 ;;
${unitCases}    esac
    echo "Failed to restart $unit: Unit $unit not found." >&2; exit 5 ;;
  daemon-reload|enable|disable|start|stop) exit 0 ;;
  is-active)
    case "$unit" in
      kubelet|kubelet.service)
        # the kubelet stand-in says in its status file who it is and whether it serves; that process must be alive
        s=$(cat ${join(node.dir, 'kubelet-status.json')} 2>/dev/null)
        pid=$(echo "$s" | sed -n 's/.*"kubeletPid": *\\([0-9]*\\).*/\\1/p')
        if echo "$s" | grep -q '"kubeletState": *"running"' && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo active; exit 0; fi
        echo inactive; exit 3 ;;
${units
  .map(
    (u) => `      ${u}|${u}.service) echo active; exit 0 ;;
`,
  )
  .join('')}    esac
    echo inactive; exit 3 ;;
  *) echo "the lab's systemctl does not do: $*" >&2; exit 1 ;;
esac
`,
    { mode: 0o755 },
  );
  return [
    [run, '/run/systemd'],
    [shim, '/usr/bin/systemctl'],
  ];
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
  // the SSH CA whose user certificates every node's sshd trusts (TrustedUserCAKeys)
  const userCa = join(dir, 'ssh', 'user_ca');
  sshKeygen(userCa, `kpki-lab-${id}-user-ca`);
  const knownHosts: string[] = [];
  const hosts = [
    '127.0.0.1 localhost',
    '::1 localhost ip6-localhost',
    `${endpoint.address} lab-api`,
    ...nodes.map((n) => `${n.address} ${n.name}`),
    '',
  ].join('\n');

  await Promise.all(
    nodes.map(async (node) => {
      const root = join(node.dir, 'root');
      for (const sub of ['logs', 'ssh']) mkdirSync(join(node.dir, sub), { recursive: true, mode: 0o700 });
      const treeOptions = {
        nodeName: node.name,
        address: node.address,
        controlPlaneEndpoint,
        localAddress: node.address,
        initialCluster,
        certSans: ['lab-api'],
        initNode: node.index === 1,
      };
      const units = o.etcdService && node.role === 'control-plane' ? ['etcd'] : [];
      // the node's own /etc: the upper directory of an overlay on the machine's, seen as <overlay>/etc from here
      const overlay = join(node.dir, 'etc-overlay');
      const etc = { upper: join(overlay, 'etc'), work: join(overlay, 'work') };
      if (units.length) for (const d of Object.values(etc)) mkdirSync(d, { recursive: true, mode: 0o755 });
      const members = controlPlanes.map((n) => ({ host: n.name, address: n.address }));
      const kubesprayEtcd = units.length ? { self: members.find((m) => m.host === node.name)!, members, etcRoot: overlay } : undefined;
      if (node.role === 'control-plane') await buildControlPlaneNode(root, cas, { ...treeOptions, kubesprayEtcd });
      else await buildWorkerNode(root, cas, treeOptions);
      for (const path of NODE_PATHS) mkdirSync(join(root, path), { recursive: true, mode: 0o700 });
      writeFileSync(join(node.dir, 'hosts'), hosts);
      writeFileSync(join(node.dir, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
      knownHosts.push(
        `${node.address} ${sshKeygen(join(node.dir, 'ssh', 'ssh_host_ed25519_key'), node.name)
          .split(' ')
          .slice(0, 2)
          .join(' ')}`,
      );
      const hardened = o.plainSsh || o.sshOnly ? undefined : hardening(node);
      writeFileSync(join(node.dir, 'ssh', 'sshd_config'), sshdConfig(node, authorizedKeys, hardened?.sshd ?? [], `${userCa}.pub`));
      const userMounts = loginUser(node, `${readFileSync(authorizedKeys, 'utf8')}`);
      const systemdMounts = o.sshOnly ? [] : systemd(node, units);
      const config: NodeConfig = {
        labId: id,
        name: node.name,
        address: node.address,
        mounts: [
          ...NODE_PATHS.map((p): [string, string] => [join(root, p), p]),
          [join(node.dir, 'hosts'), '/etc/hosts'],
          [join(node.dir, 'resolv.conf'), '/etc/resolv.conf'],
          ...userMounts,
          ...systemdMounts,
          ...(hardened?.withoutPython ? hidePython() : []),
        ],
        sshdConfig: join(node.dir, 'ssh', 'sshd_config'),
        logDir: join(node.dir, 'logs'),
        exitWithStdin: o.exitWithStdin,
        sshOnly: o.sshOnly,
        ...(units.length ? { units, privateEtc: etc } : {}),
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
  return { id, dir, baseOctet: o.baseOctet, endpoint, nodes, sshKey, knownHosts: knownHostsFile, userCa };
}
