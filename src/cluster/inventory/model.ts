// The nodes of a cluster and how to reach each over SSH, whatever file they came from (kpki's own format, a Kubespray
// inventory, a KubeKey config). Errors name the file and the line.
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { isPathComponent } from '../../util/path-name.js';

export type NodeRole = 'control-plane' | 'worker';

/** An SSH hop on the way to a node (OpenSSH's ProxyJump); `via` is the hop before it (ProxyJump a,b: b via a). */
export interface JumpHost {
  address: string;
  port: number;
  user: string;
  key?: string;
  via?: JumpHost;
  /** From the SSH config of the hop's own name (its keys, its known_hosts name). */
  keyFiles?: string[];
  hostKeyAlias?: string;
}

/** Which SSH settings the inventory itself gave a node: the others may come from the SSH config, then kpki's defaults. */
export interface GivenSettings {
  address?: boolean;
  user?: boolean;
  port?: boolean;
  key?: boolean;
  knownHosts?: boolean;
  jump?: boolean;
  sudo?: boolean;
}

export interface InventoryNode {
  name: string;
  address: string;
  role: NodeRole;
  port: number;
  user: string;
  /** Private key file on the operator's machine; without one: the agent, then ~/.ssh/id_* as OpenSSH does. */
  key?: string;
  /** Only from a KubeKey config that holds one; never printed. */
  password?: string;
  /** Run file access and programs as root through `sudo -n` (a login user that is not root). */
  sudo: boolean;
  knownHosts: string;
  jump?: JumpHost;
  /** What the inventory said itself (absent: everything, as before SSH configs were read). */
  given?: GivenSettings;
  /** Without sudo given: sudo exactly when the user is not root (Kubespray's become, KubeKey). */
  sudoUnlessRoot?: boolean;
  /** From the SSH config (ssh-settings.ts): identities to try in order, user certificates, and how to connect. */
  keyFiles?: string[];
  certificateFiles?: string[];
  identitiesOnly?: boolean;
  /** More known_hosts files to check host keys against (the first of UserKnownHostsFile is `knownHosts`; the global ones). */
  moreKnownHosts?: string[];
  hostKeyAlias?: string;
  acceptNewHostKeys?: boolean;
  timeoutMs?: number;
}

export type InventoryFormat = 'kpki' | 'kubespray' | 'kubespray-ini' | 'kubekey';

export interface Inventory {
  file: string;
  format: InventoryFormat;
  nodes: InventoryNode[];
  /** What was read but left out (etcd-only hosts, ...), for the user. */
  notes: string[];
}

export const DEFAULT_KNOWN_HOSTS = '~/.ssh/known_hosts';

export function inventoryError(where: string, message: string): never {
  throw new UsageError(`${where}: ${message}`);
}

/** ~/x from the home directory, a relative path from the inventory's directory. */
export function expandPath(p: string, inventoryFile: string): string {
  return p.startsWith('~/') ? resolve(homedir(), p.slice(2)) : isAbsolute(p) ? p : resolve(dirname(inventoryFile), p);
}

export function parsePort(value: unknown, where: string, what: string): number {
  const port = Number(value ?? 22);
  if (!Number.isInteger(port) || port < 1 || port > 65535) inventoryError(where, `${what}: port ${String(value)} is not a TCP port`);
  return port;
}

/** OpenSSH's jump syntax: [user@]host[:port], or several hops separated by commas (the last is the one before the node). */
export function parseJump(spec: string, defaults: { user: string; key?: string }, where: string): JumpHost {
  let hop: JumpHost | undefined;
  for (const part of spec.split(',')) {
    const m = /^(?:([^@\s]+)@)?(\[[^\]]+\]|[^:@\s]+)(?::(\d+))?$/.exec(part.trim());
    if (!m) inventoryError(where, `jump host "${spec}" is not [user@]host[:port] (or a comma list of them)`);
    hop = {
      user: m[1] ?? defaults.user,
      address: m[2].replace(/^\[|\]$/g, ''),
      port: parsePort(m[3] ?? 22, where, `jump host ${part}`),
      key: defaults.key,
      ...(hop ? { via: hop } : {}),
    };
  }
  return hop!;
}

/** The most hosts one range pattern may stand for: Kubernetes supports clusters of 5,000 nodes. */
export const MAX_RANGE_HOSTS = 5000;

/**
 * Ansible-style host ranges: node[1:3] → node1 node2 node3, node[01:03] keeps the zero padding. The number of hosts is
 * counted before any is made: a pattern that stands for more than MAX_RANGE_HOSTS is a usage error naming `where`.
 */
export function expandRange(pattern: string, where = 'inventory'): string[] {
  const ranges = [...pattern.matchAll(/\[(\d+):(\d+)\]/g)];
  const count = ranges.reduce((n, m) => n * Math.max(0, Number(m[2]) - Number(m[1]) + 1), 1);
  if (count > MAX_RANGE_HOSTS)
    inventoryError(
      where,
      `the host range "${pattern}" stands for ${count > 1e15 ? 'more than 10^15' : count} hosts: kpki takes at most ${MAX_RANGE_HOSTS}`,
    );
  return expandBounded(pattern);
}

function expandBounded(pattern: string): string[] {
  const m = /^(.*)\[(\d+):(\d+)\](.*)$/.exec(pattern);
  if (!m) return [pattern];
  const [, head, from, to, tail] = m;
  const width = from.startsWith('0') ? from.length : 0;
  const names: string[] = [];
  for (let i = Number(from); i <= Number(to); i++) names.push(...expandBounded(`${head}${String(i).padStart(width, '0')}${tail}`));
  return names;
}

/**
 * A node's name is input that ends up in messages, reports and directory names (kpki csr --out DIR/<node>): one path
 * component, printable, no spaces.
 */
export function checkNodeName(name: string, where: string): void {
  if (!isPathComponent(name) || /[\s\p{C}]/u.test(name))
    inventoryError(
      where,
      `the node name ${JSON.stringify(name)} is not a host name (one word: no "/", spaces or control characters, not "." or "..")`,
    );
}

/** --nodes a,b: only those (names must exist). */
export function selectNodes(inventory: Inventory, names?: string): InventoryNode[] {
  if (!names) return inventory.nodes;
  const wanted = names
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  for (const n of wanted)
    if (!inventory.nodes.some((node) => node.name === n)) throw new UsageError(`--nodes: no node "${n}" in ${inventory.file}`);
  return inventory.nodes.filter((n) => wanted.includes(n.name));
}
