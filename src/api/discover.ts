// kpki inventory discover: the nodes the API server knows, their roles (node-role.kubernetes.io/control-plane, or
// master before 1.24) and addresses (InternalIP, else ExternalIP, else Hostname), as a kpki inventory skeleton.
import { stringify } from 'yaml';
import { apiGet, ApiAccess } from './client.js';

export interface DiscoveredNode {
  name: string;
  address: string;
  role: 'control-plane' | 'worker';
}

interface NodeObject {
  metadata?: { name?: string; labels?: Record<string, string> };
  status?: { addresses?: { type: string; address: string }[] };
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export async function discoverNodes(api: ApiAccess): Promise<DiscoveredNode[]> {
  const res = await apiGet(api, '/api/v1/nodes');
  if (res.status !== 200) throw new Error(`GET ${api.server}/api/v1/nodes: HTTP ${res.status}: ${res.body.trim().slice(0, 200)}`);
  const items = ((res.json?.items ?? []) as NodeObject[]).filter((n) => n.metadata?.name);
  const nodes = items.map((n): DiscoveredNode => {
    const labels = n.metadata?.labels ?? {};
    const byType = (t: string) => n.status?.addresses?.find((a) => a.type === t)?.address;
    const control = 'node-role.kubernetes.io/control-plane' in labels || 'node-role.kubernetes.io/master' in labels;
    return {
      name: n.metadata!.name!,
      address: byType('InternalIP') ?? byType('ExternalIP') ?? byType('Hostname') ?? n.metadata!.name!,
      role: control ? 'control-plane' : 'worker',
    };
  });
  // a node name is a DNS subdomain (kube-apiserver validates it): anything else is not a real API's answer, and it
  // would become a path (kpki csr --out DIR/<node>) and a line of the inventory
  const odd = nodes.filter((n) => !DNS_SUBDOMAIN.test(n.name) || n.name.length > 253);
  if (odd.length)
    throw new Error(
      `${api.server} lists nodes whose names are not DNS names: ${odd.map((n) => JSON.stringify(n.name.slice(0, 80))).join(', ')}`,
    );
  return nodes.sort((a, b) => (a.role === b.role ? a.name.localeCompare(b.name) : a.role === 'control-plane' ? -1 : 1));
}

export function renderInventory(nodes: DiscoveredNode[], defaults: Record<string, unknown>, source: string): string {
  const header = `# kpki inventory discovered from ${source} on ${new Date().toISOString()}\n# Check the addresses (kpki connects to them over SSH) and the SSH settings, then: kpki check -i <this file>\n`;
  const body = stringify(
    { defaults, nodes: nodes.map((n) => ({ name: n.name, address: n.address, role: n.role })) },
    { collectionStyle: 'block' },
  );
  // one node per line reads best
  return header + body.replace(/^ {2}- name: (.*)\n {4}address: (.*)\n {4}role: (.*)$/gm, '  - { name: $1, address: $2, role: $3 }');
}
