// Each node's SSH settings as the operator's own ssh would take them: what the inventory says wins (as Ansible's
// ansible_user / ansible_port / ansible_host do), then the SSH config for the host (~/.ssh/config, /etc/ssh/ssh_config,
// or --ssh-config as ssh -F), then kpki's defaults. A node given by name only is reached at its HostName.
import { UsageError } from '../../errors.js';
import { loadSshConfig, resolveSshOptions, SshConfig, sshConfigFiles } from '../../hosts/ssh-config.js';
import { Inventory, InventoryNode, JumpHost, parseJump } from './model.js';

/** The known_hosts files ssh checks besides the user's (GlobalKnownHostsFile's default). */
const GLOBAL_KNOWN_HOSTS = ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];

/** `--ssh-config none` or /dev/null (as ssh -F /dev/null): no SSH config at all. */
export function noSshConfig(flag?: string): boolean {
  return flag === 'none' || flag === '/dev/null';
}

export function applySshConfig(inventory: Inventory, flag?: string): void {
  const config = noSshConfig(flag) ? { blocks: [], files: [] } : loadSshConfig(sshConfigFiles(flag));
  for (const node of inventory.nodes) applyToNode(node, config);
}

function applyToNode(node: InventoryNode, config: SshConfig): void {
  const given = node.given ?? { address: true, user: true, port: true, key: true, knownHosts: true, jump: true, sudo: true };
  // ssh's host argument: Ansible passes ansible_host when there is one, else the inventory name
  const original = given.address ? node.address : node.name;
  const o = resolveSshOptions(config, { original, user: given.user ? node.user : undefined });
  if (o.unsupported.length)
    throw new UsageError(
      `${node.name}: the SSH config says ${o.unsupported.join(', ')} for ${original}, which kpki cannot do as ssh does`,
      'give this node its address, user, port, key and jump host in the inventory (they win over the SSH config), or use --ssh-config FILE',
    );
  if (!given.address) node.address = o.hostName ?? node.name;
  if (!given.user && o.user) node.user = o.user;
  if (!given.port && o.port) node.port = o.port;
  if (!given.key && o.identityFiles.length) node.keyFiles = o.identityFiles;
  if (o.certificateFiles.length) node.certificateFiles = o.certificateFiles;
  if (o.identitiesOnly !== undefined) node.identitiesOnly = o.identitiesOnly;
  if (!given.knownHosts && o.userKnownHostsFiles?.length) {
    node.knownHosts = o.userKnownHostsFiles[0];
    node.moreKnownHosts = o.userKnownHostsFiles.slice(1);
  }
  node.moreKnownHosts = [...(node.moreKnownHosts ?? []), ...(o.globalKnownHostsFiles ?? GLOBAL_KNOWN_HOSTS)];
  if (o.hostKeyAlias) node.hostKeyAlias = o.hostKeyAlias;
  if (o.strictHostKeyChecking && /^(accept-new|no|off)$/.test(o.strictHostKeyChecking)) node.acceptNewHostKeys = true;
  if (o.connectTimeoutMs) node.timeoutMs = o.connectTimeoutMs;
  if (!given.jump && o.proxyJump && o.proxyJump !== 'none') node.jump = jumpChain(o.proxyJump, config, node);
  if (!given.sudo && node.sudoUnlessRoot) node.sudo = node.user !== 'root';
}

/** ProxyJump's hops, each with its own settings from the SSH config (its user, port, keys), as ssh resolves them. */
function jumpChain(spec: string, config: SshConfig, node: InventoryNode): JumpHost {
  const parsed = parseJump(spec, { user: '' }, `ProxyJump of ${node.name}`);
  const resolveHop = (hop: JumpHost | undefined): JumpHost | undefined => {
    if (!hop) return undefined;
    const o = resolveSshOptions(config, { original: hop.address, user: hop.user || undefined });
    if (o.unsupported.length)
      throw new UsageError(
        `${node.name}: the jump host ${hop.address}: the SSH config says ${o.unsupported.join(', ')}, which kpki cannot do`,
      );
    return {
      address: o.hostName ?? hop.address,
      port: spec.includes(`${hop.address}:`) ? hop.port : (o.port ?? hop.port),
      user: hop.user || o.user || node.user,
      keyFiles: o.identityFiles.length ? o.identityFiles : node.keyFiles,
      key: o.identityFiles.length ? undefined : node.key,
      hostKeyAlias: o.hostKeyAlias,
      via: resolveHop(hop.via),
    };
  };
  return resolveHop(parsed)!;
}
