// Scan one node through a Host into a NodeScan: kubeadm catalog, manifests' flags, kubeconfigs,
// the kubelet's files and the Kubespray/KubeKey etcd layout. Nothing is written.
import { posix } from 'node:path';
import type { Host } from '../../hosts/host.js';
import {
  CA_CATALOG,
  DEFAULT_CERT_DIR,
  DEFAULT_KUBECONFIG_DIR,
  KUBEADM_CONFIG_CANDIDATES,
  LEAF_CATALOG,
  MANIFEST_CERT_FLAGS,
  MANIFEST_DIR,
} from '../../kubeadm/catalog.js';
import { ClusterSettings, parseClusterSettings } from '../../kubeadm/cluster-config.js';
import { parseStaticPod, StaticPod } from '../../kubeadm/manifests.js';
import { CaEntry, CertEntry, NodeScan, pendingKeyPath } from './result.js';
import { KeyLoading, LOAD_ALL_KEYS, readOptional } from './read.js';
import { auditFiles } from './permissions.js';
import { interruptedRun } from '../txn/index.js';
import { readCa, readPairEntry } from './entries.js';
import { scanKubeconfigs } from './kubeconfigs.js';
import { scanEtcdSsl } from './etcd-ssl.js';
import { stillParked } from '../txn/index.js';
import { scanKubeletFiles } from './kubelet.js';
import { judgeEntries } from './judge.js';
import { NodeReadError } from '../../errors.js';

export interface ScanOptions {
  /** --cert-dir: overrides the configuration and the manifests. */
  certDir?: string;
  /** --kubeconfig-dir. */
  kubeconfigDir?: string;
  /** --config: a kubeadm configuration file (node path). */
  config?: string;
  /** Which private keys to parse (default all, as renewal needs them; check: leaves; the exporter: none). */
  keys?: KeyLoading;
}

export async function scanNode(host: Host, options: ScanOptions = {}): Promise<NodeScan> {
  const rootInfo = await host.stat('/');
  if (!rootInfo || rootInfo.type !== 'dir') throw new NodeReadError(`node root ${host.describe('/')} is not a directory`, '/');
  const { settings, settingsPath } = await readSettings(host, options.config);
  const manifests = await readManifests(host);
  const flagPaths = pathsFromManifests(manifests);
  const certDir = options.certDir ?? settings?.certificatesDir ?? certDirFromManifests(manifests) ?? DEFAULT_CERT_DIR;
  const kubeconfigDir = options.kubeconfigDir ?? DEFAULT_KUBECONFIG_DIR;
  for (const dir of [certDir, kubeconfigDir]) await refuseDanglingLinks(host, dir);

  const keys = options.keys ?? LOAD_ALL_KEYS;
  const cas = await scanCas(host, certDir, flagPaths, keys);
  // kubeadm ≤ 1.8 ran etcd without TLS: only an etcd with certificate flags (or an etcd CA) is a stacked TLS etcd.
  const etcdManifest = manifests.some((m) => m.component === 'etcd' && (m.flags.has('cert-file') || m.flags.has('trusted-ca-file')));
  // (an etcd CA elsewhere, named by kube-apiserver's --etcd-cafile, is an external etcd's: Kubespray's /etc/ssl/etcd/ssl)
  const kubeadmEtcdCa = (c: CaEntry) => c.name === 'etcd-ca' && !c.missing && posix.dirname(c.certPath) === posix.join(certDir, 'etcd');
  const localEtcd = !settings?.externalEtcd && (etcdManifest || cas.some(kubeadmEtcdCa));
  const leaves = await scanLeaves(host, certDir, flagPaths, localEtcd, keys);
  const kubeconfigs = await scanKubeconfigs(host, kubeconfigDir, flagPaths, keys);
  const kubelet = await scanKubeletFiles(host, kubeconfigs, keys);
  const etcdSsl = await scanEtcdSsl(host, cas, new Set([...leaves, ...kubeconfigs].map((e) => e.path)), keys);

  const allCas = [...cas.filter((c) => !c.missing), ...etcdSsl.cas];
  const entries = [...leaves, ...kubeconfigs, ...kubelet, ...etcdSsl.leaves];
  const isControlPlane = manifests.length > 0 || leaves.some((e) => !e.missing) || cas.some((c) => c.keyPresent && c.name === 'ca');
  const role = isControlPlane ? 'control-plane' : entries.some((e) => !e.missing) || allCas.length ? 'worker' : 'unknown';

  const present = role === 'control-plane' ? entries : entries.filter((e) => !e.missing || e.source.startsWith('kubelet.conf'));
  const caList = role === 'control-plane' ? cas.filter((c) => !c.missing || c.name !== 'etcd-ca' || localEtcd) : allCas;
  const scan: NodeScan = {
    node: host.name,
    certDir,
    kubeconfigDir,
    settings,
    settingsPath,
    role,
    localEtcd,
    manifests,
    cas: dedupeCas([...caList, ...etcdSsl.cas]),
    entries: present.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
  judgeEntries(scan);
  await auditFiles(host, scan);
  scan.interrupted = await interruptedRun(host).catch(() => undefined);
  scan.pendingRequests = await pendingRequests(host, scan.entries);
  if (role === 'control-plane') scan.serviceAccountKeys = await rotatingKeys(host, certDir);
  return scan;
}

/**
 * A directory kpki reads whose path passes a symlink that leads nowhere (on a mounted disk: a link to a partition
 * that is not mounted under --root) would look like a node without certificates, and "nothing to renew" would be a
 * lie: refused, naming the link.
 */
async function refuseDanglingLinks(host: Host, dir: string): Promise<void> {
  const parts = posix.normalize(dir).split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const path = `/${parts.slice(0, i).join('/')}`;
    const info = await host.stat(path).catch(() => null);
    if (!info) return; // (not there: a node without it)
    if (info.type !== 'symlink') continue;
    // (a link that leads out of the root is refused by every read through it, naming the file)
    const resolved = await host.resolve(path).catch(() => undefined);
    if (resolved === undefined) return;
    const target = await host.stat(resolved).catch(() => null);
    if (!target)
      throw new NodeReadError(
        `${host.describe(path)} is a symlink to ${info.linkTarget}, which does not exist${host.live ? '' : " inside the node's root"}: kpki cannot read ${dir} through it`,
        path,
        host.live ? 'restore the link target' : 'mount the node partition that holds it under the root too, or give --cert-dir',
      );
  }
}

/** sa.pub's key count when it holds more than one (counted, not parsed: check only says a rotation is in progress). */
async function rotatingKeys(host: Host, certDir: string): Promise<number | undefined> {
  const pub = await readOptional(host, posix.join(certDir, 'sa.pub'));
  const count = pub.ok ? (pub.value.toString('latin1').match(/-----BEGIN [A-Z ]*(PUBLIC|PRIVATE) KEY-----/g) ?? []).length : 0;
  return count > 1 ? count : undefined;
}

/** Pending keys of kpki csr: a listing of each directory that holds one (not a look per certificate: SSH is slow). */
async function pendingRequests(host: Host, entries: CertEntry[]): Promise<{ name: string; keyPath: string }[]> {
  const wanted = entries.flatMap((e) => {
    const keyPath = pendingKeyPath(e);
    return keyPath ? [{ name: e.name, keyPath }] : [];
  });
  const listings = new Map<string, Set<string>>();
  for (const dir of new Set(wanted.map((w) => posix.dirname(w.keyPath)))) listings.set(dir, new Set(await host.list(dir).catch(() => [])));
  return wanted.filter((w) => listings.get(posix.dirname(w.keyPath))?.has(posix.basename(w.keyPath)));
}

function dedupeCas(cas: CaEntry[]): CaEntry[] {
  const seen = new Set<string>();
  return cas.filter((c) => (seen.has(c.name) ? false : (seen.add(c.name), true)));
}

async function readSettings(host: Host, config?: string): Promise<{ settings?: ClusterSettings; settingsPath?: string }> {
  const candidates = config ? [config] : KUBEADM_CONFIG_CANDIDATES;
  for (const path of candidates) {
    const file = await readOptional(host, path);
    if (!file.ok) {
      if (config)
        throw new NodeReadError(`cannot read kubeadm config ${host.describe(path)}: ${file.absent ? 'no such file' : file.error}`, path);
      continue;
    }
    const settings = parseClusterSettings(file.value.toString('utf8'));
    if (settings) return { settings, settingsPath: path };
    if (config) throw new NodeReadError(`${host.describe(path)} holds no ClusterConfiguration`, path);
  }
  return {};
}

async function readManifests(host: Host): Promise<StaticPod[]> {
  const pods: StaticPod[] = [];
  // (a manifest kpki moved out for a restart and a kill left parked still defines what the component reads)
  const parked = (await stillParked(host)).filter((p) => posix.dirname(p.from) === MANIFEST_DIR);
  const files = [
    ...(await host.list(MANIFEST_DIR)).map((name) => ({ name, path: posix.join(MANIFEST_DIR, name) })),
    ...parked.map((p) => ({ name: posix.basename(p.from), path: p.to })),
  ];
  for (const { name, path } of files) {
    if (!/\.(ya?ml|json)$/.test(name)) continue;
    const file = await readOptional(host, path);
    if (!file.ok) continue;
    try {
      pods.push({ ...parseStaticPod(file.value.toString('utf8'), name), path });
    } catch {
      // A broken manifest is the kubelet's problem, not a certificate's; paths fall back to the catalog.
    }
  }
  return pods;
}

/** Catalog name → { cert, key, source } from the static pods' flags. */
type FlagPaths = Map<string, { cert: string; key?: string; source: string }>;

/**
 * Where no two flags disagree, the order does not matter; where they do (ca.crt for kube-apiserver's --client-ca-file,
 * the controller-manager's own one-certificate file while ca.crt is a bundle), the catalog's first flag wins.
 */
function pathsFromManifests(pods: StaticPod[]): FlagPaths {
  const found: FlagPaths = new Map();
  const rankOf = new Map<string, number>();
  for (const pod of pods) {
    for (const rule of MANIFEST_CERT_FLAGS[pod.component] ?? []) {
      const certFlag = pod.flags.get(rule.cert);
      if (!certFlag || (rankOf.get(rule.name) ?? Infinity) <= rule.rank) continue;
      rankOf.set(rule.name, rule.rank);
      // a relative path is relative to the container's working directory, as the component itself opens it
      const inPod = (p: string) => posix.resolve(pod.workingDir, p);
      const keyFlag = rule.key ? pod.flags.get(rule.key) : undefined;
      found.set(rule.name, {
        cert: inPod(certFlag),
        key: keyFlag ? inPod(keyFlag) : undefined,
        source: `manifest ${pod.component} --${rule.cert}`,
      });
    }
  }
  return found;
}

function certDirFromManifests(pods: StaticPod[]): string | undefined {
  const apiserver = pods.find((p) => p.component === 'kube-apiserver');
  const clientCa = apiserver?.flags.get('client-ca-file');
  return clientCa ? posix.dirname(posix.resolve(apiserver!.workingDir, clientCa)) : undefined;
}

/** The key beside a CA certificate named by a flag alone: kubeadm's ca.crt → ca.key; openssl's and cfssl's ca.pem → ca-key.pem. */
function keyPathBeside(certPath: string): string {
  if (certPath.endsWith('.crt')) return certPath.replace(/\.crt$/, '.key');
  if (certPath.endsWith('.pem')) return certPath.replace(/\.pem$/, '-key.pem');
  return `${certPath}.key`;
}

async function scanCas(host: Host, certDir: string, flagPaths: FlagPaths, keys: KeyLoading): Promise<CaEntry[]> {
  const cas: CaEntry[] = [];
  for (const spec of CA_CATALOG) {
    const fromFlag = flagPaths.get(spec.name);
    const certPath = fromFlag?.cert ?? posix.join(certDir, `${spec.base}.crt`);
    const keyPath = fromFlag?.key ?? keyPathBeside(certPath);
    cas.push(await readCa(host, spec.name, certPath, keyPath, keys));
  }
  return cas;
}

async function scanLeaves(host: Host, certDir: string, flagPaths: FlagPaths, localEtcd: boolean, keys: KeyLoading): Promise<CertEntry[]> {
  const entries: CertEntry[] = [];
  for (const spec of LEAF_CATALOG) {
    const fromFlag = flagPaths.get(spec.name);
    const certPath = fromFlag?.cert ?? posix.join(certDir, `${spec.base}.crt`);
    const keyPath = fromFlag?.key ?? certPath.replace(/\.(crt|pem)$/, '.key');
    const entry = await readPairEntry(
      host,
      {
        name: spec.name,
        certPath,
        keyPath,
        expectedCa: spec.ca,
        kubeadm: !spec.localEtcd || localEtcd,
        source: fromFlag?.source ?? `kubeadm catalog (${certDir})`,
      },
      keys,
    );
    if (entry.missing && spec.localEtcd && !localEtcd) continue;
    entries.push(entry);
  }
  return entries;
}
