// A KubeKey cluster config (kind: Cluster, apiVersion kubekey.kubesphere.io/v1alpha1|v1alpha2), read as it is:
// spec.hosts (name, address, port, user, password, privateKeyPath) and spec.roleGroups (control-plane or master,
// worker, etcd), with KubeKey's host ranges (node[1:3]).
import { isMap, isSeq, LineCounter, parseAllDocuments, Node as YamlNode, YAMLMap } from 'yaml';
import { DEFAULT_KNOWN_HOSTS, expandPath, expandRange, Inventory, InventoryNode, inventoryError, parsePort } from './model.js';

interface KubeKeyHost {
  name?: unknown;
  address?: unknown;
  port?: unknown;
  user?: unknown;
  password?: unknown;
  privateKeyPath?: unknown;
}

export function isKubeKeyConfig(text: string): boolean {
  return /^kind:\s*Cluster\s*$/m.test(text) && /^apiVersion:\s*kubekey\.kubesphere\.io\//m.test(text);
}

export function parseKubeKey(text: string, file: string): Inventory {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines });
  if (!Array.isArray(docs)) inventoryError(file, 'not valid YAML');
  const where = (node: YamlNode | null | undefined) => (node?.range ? `${file}:${lines.linePos(node.range[0]).line}` : file);
  for (const d of docs)
    if (d.errors.length > 0)
      inventoryError(`${file}:${d.errors[0].linePos?.[0].line ?? '?'}`, `not valid YAML: ${d.errors[0].message.split('\n')[0]}`);
  const doc = docs.find((d) => d.get('kind') === 'Cluster' && String(d.get('apiVersion') ?? '').startsWith('kubekey.kubesphere.io/'));
  if (!doc) inventoryError(file, 'no KubeKey "kind: Cluster" document');
  const hostsNode = doc.getIn(['spec', 'hosts'], true) as YamlNode | undefined;
  if (!hostsNode || !isSeq(hostsNode) || hostsNode.items.length === 0)
    inventoryError(where(doc.contents), 'spec.hosts must be a non-empty list');
  const hosts = new Map<string, { host: KubeKeyHost; at: string }>();
  for (const item of (hostsNode as unknown as { items: YamlNode[] }).items) {
    if (!isMap(item)) inventoryError(where(item), 'each of spec.hosts must be a mapping (name, address, ...)');
    const host = item.toJSON() as KubeKeyHost;
    if (!host.name) inventoryError(where(item), 'a host needs a name');
    if (hosts.has(String(host.name))) inventoryError(where(item), `host "${String(host.name)}" is listed twice`);
    hosts.set(String(host.name), { host, at: where(item) });
  }
  const groupsNode = doc.getIn(['spec', 'roleGroups'], true) as YamlNode | undefined;
  if (!groupsNode || !isMap(groupsNode))
    inventoryError(where(doc.contents), 'spec.roleGroups must be a mapping (control-plane, worker, etcd)');
  const members = (group: string): string[] => {
    const node = (groupsNode as YAMLMap).get(group, true) as YamlNode | undefined;
    if (!node) return [];
    if (!isSeq(node)) inventoryError(where(node), `roleGroups.${group} must be a list of host names`);
    return (node as unknown as { items: YamlNode[] }).items.flatMap((item) =>
      expandRange(String(item.toJSON()), where(item)).map((name) => {
        if (!hosts.has(name)) inventoryError(where(item), `roleGroups.${group}: "${name}" is not in spec.hosts`);
        return name;
      }),
    );
  };
  const controlPlanes = [...new Set([...members('control-plane'), ...members('master')])];
  const workers = members('worker').filter((n) => !controlPlanes.includes(n));
  if (controlPlanes.length === 0) inventoryError(where(groupsNode), 'roleGroups has no control-plane (or master) host');
  const etcdOnly = members('etcd').filter((n) => !controlPlanes.includes(n) && !workers.includes(n));
  const toNode = (name: string, role: InventoryNode['role']) => kubekeyNode(name, role, hosts.get(name)!, file);
  return {
    file,
    format: 'kubekey',
    nodes: [...controlPlanes.map((n) => toNode(n, 'control-plane')), ...workers.map((n) => toNode(n, 'worker'))],
    notes: etcdOnly.length ? [`etcd-only hosts not included (kpki reads control-plane and worker nodes): ${etcdOnly.join(', ')}`] : [],
  };
}

/** One host of spec.hosts as a node: what KubeKey's config gives, the rest left to the SSH config. */
function kubekeyNode(
  name: string,
  role: InventoryNode['role'],
  { host, at }: { host: KubeKeyHost; at: string },
  file: string,
): InventoryNode {
  const user = String(host.user ?? 'root');
  return {
    name,
    address: String(host.address ?? name),
    given: {
      address: host.address !== undefined,
      user: host.user !== undefined,
      port: host.port !== undefined,
      key: host.privateKeyPath !== undefined,
      knownHosts: false,
      jump: false,
      sudo: false,
    },
    sudoUnlessRoot: true,
    role,
    port: parsePort(host.port, at, `host "${name}"`),
    user,
    key: host.privateKeyPath ? expandPath(String(host.privateKeyPath), file) : undefined,
    password: host.password === undefined || host.password === null ? undefined : String(host.password),
    sudo: user !== 'root', // KubeKey itself works through sudo for a user that is not root
    knownHosts: expandPath(DEFAULT_KNOWN_HOSTS, file),
  };
}
