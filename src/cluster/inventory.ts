// kpki's inventory: the nodes of a cluster and how to reach them over SSH. Errors name the file and the line.
//
//   defaults: { user: root, port: 22, key: ~/.ssh/id_ed25519, sudo: false, knownHosts: ~/.ssh/known_hosts }
//   nodes:
//     - { name: cp1, address: 10.0.0.11, role: control-plane }
//     - { name: w1, address: 10.0.0.21, role: worker, user: ubuntu, sudo: true }
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, Node as YamlNode } from 'yaml';
import { KpkiError } from '../node/errors.js';

export interface InventoryNode {
  name: string;
  address: string;
  role: 'control-plane' | 'worker';
  port: number;
  user: string;
  key?: string;
  sudo: boolean;
  knownHosts: string;
}

export interface Inventory {
  file: string;
  nodes: InventoryNode[];
}

const ROLES = ['control-plane', 'worker'];
const NODE_KEYS = new Set(['name', 'address', 'role', 'port', 'user', 'key', 'sudo', 'knownHosts']);

export function parseInventory(text: string, file: string): Inventory {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const where = (node: YamlNode | null | undefined) => (node?.range ? `${file}:${lines.linePos(node.range[0]).line}` : file);
  const fail = (node: YamlNode | null | undefined, message: string): never => {
    throw new KpkiError(`${where(node)}: ${message}`, { exitCode: 2 });
  };
  if (doc.errors.length > 0) throw new KpkiError(`${file}:${doc.errors[0].linePos?.[0].line ?? '?'}: not valid YAML: ${doc.errors[0].message.split('\n')[0]}`, { exitCode: 2 });
  if (!isMap(doc.contents)) fail(doc.contents, 'expected a mapping with "nodes:" (and optional "defaults:")');
  const expand = (p: string) => (p.startsWith('~/') ? resolve(homedir(), p.slice(2)) : isAbsolute(p) ? p : resolve(dirname(file), p));
  const defaultsNode = doc.get('defaults', true) as YamlNode | undefined;
  const defaults = (defaultsNode && isMap(defaultsNode) ? defaultsNode.toJSON() : {}) as Record<string, unknown>;
  const nodesNode = doc.get('nodes', true) as YamlNode | undefined;
  if (!nodesNode || !isSeq(nodesNode) || nodesNode.items.length === 0) fail(nodesNode ?? doc.contents, '"nodes:" must be a non-empty list');
  const seen = new Set<string>();
  const nodes = (nodesNode as unknown as { items: YamlNode[] }).items.map((item) => {
    if (!isMap(item)) fail(item, 'each node must be a mapping (name, address, role, ...)');
    const raw = { ...defaults, ...(item.toJSON() as Record<string, unknown>) };
    for (const key of Object.keys(item.toJSON() as object)) if (!NODE_KEYS.has(key)) fail(item, `unknown key "${key}" (expected ${[...NODE_KEYS].join(', ')})`);
    const name = String(raw.name ?? '');
    if (!name) fail(item, 'a node needs a name');
    if (seen.has(name)) fail(item, `node "${name}" is listed twice`);
    seen.add(name);
    if (!raw.address) fail(item, `node "${name}" needs an address`);
    const role = String(raw.role ?? '');
    if (!ROLES.includes(role)) fail(item, `node "${name}": role must be control-plane or worker, not "${role}"`);
    const port = Number(raw.port ?? 22);
    if (!Number.isInteger(port) || port < 1 || port > 65535) fail(item, `node "${name}": port ${raw.port} is not a TCP port`);
    return {
      name,
      address: String(raw.address),
      role: role as InventoryNode['role'],
      port,
      user: String(raw.user ?? 'root'),
      key: raw.key ? expand(String(raw.key)) : undefined,
      sudo: raw.sudo === true,
      knownHosts: expand(String(raw.knownHosts ?? '~/.ssh/known_hosts')),
    };
  });
  return { file, nodes };
}

/** --nodes a,b: only those (names must exist). */
export function selectNodes(inventory: Inventory, names?: string): InventoryNode[] {
  if (!names) return inventory.nodes;
  const wanted = names.split(',').map((n) => n.trim()).filter(Boolean);
  for (const n of wanted) if (!inventory.nodes.some((node) => node.name === n)) throw new KpkiError(`--nodes: no node "${n}" in ${inventory.file}`, { exitCode: 2 });
  return inventory.nodes.filter((n) => wanted.includes(n.name));
}
