// kpki's inventory format:
//
//   defaults: { user: root, port: 22, key: ~/.ssh/id_ed25519, sudo: false, knownHosts: ~/.ssh/known_hosts, jump: ops@bastion:22 }
//   nodes:
//     - { name: cp1, address: 10.0.0.11, role: control-plane }
//     - { name: w1, address: 10.0.0.21, role: worker, user: ubuntu, sudo: true }
import { isMap, isSeq, LineCounter, parseDocument, Node as YamlNode } from 'yaml';
import { UsageError } from '../../errors.js';
import { DEFAULT_KNOWN_HOSTS, expandPath, Inventory, InventoryNode, parseJump, parsePort } from './model.js';

const ROLES = ['control-plane', 'worker'];
const NODE_KEYS = new Set(['name', 'address', 'role', 'port', 'user', 'key', 'sudo', 'knownHosts', 'jump']);

export function parseKpkiInventory(text: string, file: string): Inventory {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const where = (node: YamlNode | null | undefined) => (node?.range ? `${file}:${lines.linePos(node.range[0]).line}` : file);
  const fail = (node: YamlNode | null | undefined, message: string): never => {
    throw new UsageError(`${where(node)}: ${message}`);
  };
  if (doc.errors.length > 0)
    throw new UsageError(`${file}:${doc.errors[0].linePos?.[0].line ?? '?'}: not valid YAML: ${doc.errors[0].message.split('\n')[0]}`);
  if (!isMap(doc.contents)) fail(doc.contents, 'expected a mapping with "nodes:" (and optional "defaults:")');
  const defaultsNode = doc.get('defaults', true) as YamlNode | undefined;
  const defaults = (defaultsNode && isMap(defaultsNode) ? defaultsNode.toJSON() : {}) as Record<string, unknown>;
  for (const key of Object.keys(defaults))
    if (!NODE_KEYS.has(key) || key === 'name' || key === 'address')
      fail(defaultsNode, `unknown key "${key}" in defaults (expected user, port, key, sudo, knownHosts, jump, role)`);
  const nodesNode = doc.get('nodes', true) as YamlNode | undefined;
  if (!nodesNode || !isSeq(nodesNode) || nodesNode.items.length === 0) fail(nodesNode ?? doc.contents, '"nodes:" must be a non-empty list');
  const seen = new Set<string>();
  const nodes = (nodesNode as unknown as { items: YamlNode[] }).items.map((item): InventoryNode => {
    if (!isMap(item)) fail(item, 'each node must be a mapping (name, address, role, ...)');
    const raw = { ...defaults, ...(item.toJSON() as Record<string, unknown>) };
    for (const key of Object.keys(item.toJSON() as object))
      if (!NODE_KEYS.has(key)) fail(item, `unknown key "${key}" (expected ${[...NODE_KEYS].join(', ')})`);
    const name = String(raw.name ?? '');
    if (!name) fail(item, 'a node needs a name');
    if (seen.has(name)) fail(item, `node "${name}" is listed twice`);
    seen.add(name);
    // (a node given by name only is reached as ssh would reach that name: HostName and the rest from the SSH config)
    const role = String(raw.role ?? '');
    if (!ROLES.includes(role)) fail(item, `node "${name}": role must be control-plane or worker, not "${role}"`);
    const user = String(raw.user ?? 'root');
    const key = raw.key ? expandPath(String(raw.key), file) : undefined;
    return {
      name,
      address: String(raw.address ?? name),
      given: {
        address: raw.address !== undefined,
        user: raw.user !== undefined,
        port: raw.port !== undefined,
        key: raw.key !== undefined,
        knownHosts: raw.knownHosts !== undefined,
        jump: raw.jump !== undefined,
        sudo: true,
      },
      role: role as InventoryNode['role'],
      port: parsePort(raw.port, where(item), `node "${name}"`),
      user,
      key,
      sudo: raw.sudo === true,
      knownHosts: expandPath(String(raw.knownHosts ?? DEFAULT_KNOWN_HOSTS), file),
      jump: raw.jump ? parseJump(String(raw.jump), { user, key }, where(item)) : undefined,
    };
  });
  return { file, format: 'kpki', nodes, notes: [] };
}
