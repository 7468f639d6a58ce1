// A Kubespray inventory, read as it is: control-plane nodes from kube_control_plane (kube-master before 2.16),
// workers from kube_node, SSH settings from ansible_host / ansible_port / ansible_user / ansible_ssh_private_key_file
// / ansible_become, a jump host from the bastion group or ProxyJump / ProxyCommand in ansible_ssh_common_args.
import { userInfo } from 'node:os';
import { AnsibleInventory, membersOf, parseAnsibleIni, parseAnsibleYaml, Vars, varsOf } from './ansible.js';
import { DEFAULT_KNOWN_HOSTS, expandPath, Inventory, InventoryNode, inventoryError, JumpHost, parseJump, parsePort } from './model.js';

const CONTROL_PLANE_GROUPS = ['kube_control_plane', 'kube-master', 'kube_master'];
const WORKER_GROUPS = ['kube_node', 'kube-node'];

function plain(vars: Vars, name: string, where: string): string | undefined {
  const v = vars[name];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string' && v.includes('{{'))
    inventoryError(where, `${name} is a Jinja template ("${v}"): kpki does not evaluate templates; set a plain value`);
  return String(v);
}

function truthy(v: unknown): boolean {
  return v === true || (typeof v === 'string' && /^(true|yes|1)$/i.test(v)) || v === 1;
}

/** -J / ProxyJump / ProxyCommand="ssh -W %h:%p [user@]host [-p port]" in ansible_ssh_common_args or _extra_args. */
function jumpFromArgs(args: string, defaults: { user: string; key?: string }, where: string): { jump?: JumpHost; knownHosts?: string } {
  const jumpSpec = /(?:-J\s+|ProxyJump[= ]\s*)["']?([^"'\s]+)/.exec(args)?.[1];
  const knownHosts = /UserKnownHostsFile[= ]\s*["']?([^"'\s]+)/.exec(args)?.[1];
  if (jumpSpec && jumpSpec !== 'none') return { jump: parseJump(jumpSpec, defaults, where), knownHosts };
  const proxy = /ProxyCommand[= ]\s*(["'])(.*?)\1/.exec(args)?.[2];
  if (proxy) {
    const hop = sshDestination(proxy);
    if (!hop)
      inventoryError(
        where,
        `ProxyCommand "${proxy}" is not "ssh -W %h:%p [user@]host": give the jump host another way (ProxyJump, the bastion group)`,
      );
    return { jump: parseJump(hop, defaults, where), knownHosts };
  }
  return { knownHosts };
}

/** The [user@]host[:port] an `ssh -W %h:%p ...` proxy command connects to. */
function sshDestination(command: string): string | undefined {
  const tokens = command.trim().split(/\s+/);
  if (!/(^|\/)ssh$/.test(tokens[0] ?? '') || !tokens.includes('-W')) return undefined;
  let port: string | undefined;
  let user: string | undefined;
  for (let i = 1; i < tokens.length; i++) {
    const t = tokens[i];
    if (/^-[WoiFJlpcDELRbemOQSw]$/.test(t)) {
      const value = tokens[++i];
      if (t === '-p') port = value;
      if (t === '-l') user = value;
      continue;
    }
    if (t.startsWith('-')) continue; // -q, -A, -4, ...
    const host = user && !t.includes('@') ? `${user}@${t}` : t;
    return port ? `${host}:${port}` : host;
  }
  return undefined;
}

function nodeOf(inv: AnsibleInventory, host: string, role: InventoryNode['role'], file: string, bastion?: JumpHost): InventoryNode {
  const where = inv.where.get(host) ?? file;
  const vars = varsOf(inv, host);
  const givenUser = plain(vars, 'ansible_user', where) ?? plain(vars, 'ansible_ssh_user', where);
  const user = givenUser ?? userInfo().username;
  const keyFile = plain(vars, 'ansible_ssh_private_key_file', where) ?? plain(vars, 'ansible_private_key_file', where);
  const key = keyFile ? expandPath(keyFile, file) : undefined;
  const args = [plain(vars, 'ansible_ssh_common_args', where), plain(vars, 'ansible_ssh_extra_args', where)].filter(Boolean).join(' ');
  const fromArgs = jumpFromArgs(args, { user, key }, where);
  const become = vars.ansible_become ?? vars.become;
  const address = plain(vars, 'ansible_host', where) ?? plain(vars, 'ansible_ssh_host', where);
  const port = vars.ansible_port ?? vars.ansible_ssh_port;
  return {
    name: host,
    address: address ?? host,
    // (what the inventory leaves out, ssh takes from the SSH config, as Ansible's ssh does)
    given: {
      address: address !== undefined,
      user: givenUser !== undefined,
      port: port !== undefined,
      key: key !== undefined,
      knownHosts: fromArgs.knownHosts !== undefined,
      jump: Boolean(fromArgs.jump ?? bastion),
      sudo: become !== undefined,
    },
    sudoUnlessRoot: become === undefined,
    role,
    port: parsePort(port ?? 22, where, `host "${host}"`),
    user,
    key,
    // Kubespray runs its playbooks with --become: a login user that is not root reaches root through sudo
    sudo: become === undefined ? user !== 'root' : truthy(become),
    knownHosts: expandPath(fromArgs.knownHosts ?? DEFAULT_KNOWN_HOSTS, file),
    jump: fromArgs.jump ?? bastion,
  };
}

export function kubesprayInventory(inv: AnsibleInventory, file: string, format: 'kubespray' | 'kubespray-ini'): Inventory {
  const controlPlanes = CONTROL_PLANE_GROUPS.flatMap((g) => membersOf(inv, g));
  const workers = WORKER_GROUPS.flatMap((g) => membersOf(inv, g)).filter((h) => !controlPlanes.includes(h));
  if (controlPlanes.length === 0 && workers.length === 0)
    inventoryError(file, 'no kube_control_plane (or kube-master) and no kube_node group with hosts: not a Kubespray inventory?');
  const notes: string[] = [];
  const [bastionHost] = membersOf(inv, 'bastion');
  let bastion: JumpHost | undefined;
  if (bastionHost) {
    const b = nodeOf(inv, bastionHost, 'worker', file);
    bastion = { address: b.address, port: b.port, user: b.user, key: b.key };
    notes.push(`every node is reached through the bastion ${bastionHost} (${b.user}@${b.address}:${b.port})`);
  }
  const etcdOnly = membersOf(inv, 'etcd').filter((h) => !controlPlanes.includes(h) && !workers.includes(h));
  if (etcdOnly.length) notes.push(`etcd-only hosts not included (kpki reads control-plane and worker nodes): ${etcdOnly.join(', ')}`);
  const nodes = [...new Set(controlPlanes)]
    .map((h) => nodeOf(inv, h, 'control-plane', file, bastion))
    .concat([...new Set(workers)].map((h) => nodeOf(inv, h, 'worker', file, bastion)));
  return { file, format, nodes, notes };
}

export function parseKubesprayYaml(text: string, file: string): Inventory {
  return kubesprayInventory(parseAnsibleYaml(text, file), file, 'kubespray');
}

export function parseKubesprayIni(text: string, file: string): Inventory {
  return kubesprayInventory(parseAnsibleIni(text, file), file, 'kubespray-ini');
}
