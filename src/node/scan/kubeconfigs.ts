// Kubeconfigs of the node: embedded credentials (kubeadm's) or references to files (kubelet.conf from 1.18 on).
import { posix } from 'node:path';
import type { Host } from '../../hosts/host.js';
import { KUBECONFIG_CATALOG } from '../../kubeadm/catalog.js';
import { KubeconfigError, KubeconfigIdentity, parseKubeconfig } from '../../kubeadm/kubeconfig.js';
import { CertFormatError, parseCertificate } from '../../pki/certificate.js';
import { KeyFormatError, parseKeyUnlessMatching, parsePrivateKey } from '../../pki/keys.js';
import type { CertEntry } from './result.js';
import { KeyLoading, readOptional } from './read.js';
import { readCombinedEntry } from './kubelet.js';
import { readPairEntry } from './entries.js';

type FlagPaths = Map<string, { cert: string; key?: string; source: string }>;

export async function scanKubeconfigs(host: Host, kubeconfigDir: string, flagPaths: FlagPaths, keys: KeyLoading): Promise<CertEntry[]> {
  const entries: CertEntry[] = [];
  for (const spec of KUBECONFIG_CATALOG) {
    const fromFlag = flagPaths.get(spec.name);
    const path = fromFlag?.cert ?? posix.join(kubeconfigDir, spec.file);
    const entry = await readKubeconfigEntry(
      host,
      spec.name,
      path,
      spec.kubeadm,
      fromFlag?.source ?? `kubeconfig dir (${kubeconfigDir})`,
      keys,
    );
    if (entry) entries.push(entry);
  }
  // super-admin.conf exists only on the init node of 1.29+ clusters: report it missing only where it is expected.
  const admin = entries.find((e) => e.name === 'admin.conf');
  const newAdmin = admin?.cert?.organizations.includes('kubeadm:cluster-admins') ?? false;
  return entries.filter((e) => {
    if (!e.missing) return true;
    if (e.name === 'super-admin.conf') return newAdmin;
    return e.name !== 'kubelet.conf';
  });
}

async function readKubeconfigEntry(
  host: Host,
  name: string,
  path: string,
  kubeadm: boolean,
  source: string,
  keys: KeyLoading,
): Promise<CertEntry | undefined> {
  const entry: CertEntry = {
    name,
    kind: 'kubeconfig',
    slot: { kind: 'kubeconfig', path },
    path,
    expectedCa: 'ca',
    missing: false,
    problems: [],
    kubeadm,
    renewable: false,
    source,
  };
  const file = await readOptional(host, path);
  if (!file.ok) {
    if (file.absent) entry.missing = true;
    else entry.problems.push({ code: 'unreadable', message: `${host.describe(path)}: ${file.error}` });
    return entry;
  }
  const text = file.value.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(file.value)) {
    const at = firstNonUtf8(file.value);
    entry.problems.push({
      code: 'not-utf8',
      message: `${host.describe(path)}: byte ${at} is not UTF-8 (a name or comment in another encoding): kpki would not write the file back byte for byte`,
    });
  }
  let identity;
  try {
    identity = parseKubeconfig(text);
  } catch (err) {
    if (!(err instanceof KubeconfigError)) throw err;
    entry.problems.push({ code: 'unreadable', message: `${host.describe(path)}: ${err.message}` });
    return entry;
  }
  entry.kubeconfig = identity;
  if (identity.clientCertificateData) return embeddedIdentity(host, entry, identity, keys);
  if (identity.clientCertificateFile) {
    const certPath = posix.resolve(posix.dirname(path), identity.clientCertificateFile);
    const keyPath = identity.clientKeyFile ? posix.resolve(posix.dirname(path), identity.clientKeyFile) : certPath;
    const refName = name === 'kubelet.conf' ? 'kubelet-client' : name;
    const refSource = `${name} client-certificate`;
    const referenced =
      certPath === keyPath
        ? await readCombinedEntry(host, refName, certPath, refSource, keys)
        : await readPairEntry(host, { name: refName, certPath, keyPath, expectedCa: 'ca', kubeadm, source: refSource }, keys);
    referenced.kubeconfig = identity;
    return referenced;
  }
  // Token or exec credentials: no certificate to track.
  return undefined;
}

/** A kubeconfig whose client certificate and key are embedded (client-certificate-data, client-key-data). */
function embeddedIdentity(host: Host, entry: CertEntry, identity: KubeconfigIdentity, keys: KeyLoading): CertEntry {
  const path = entry.path;
  try {
    entry.cert = parseCertificate(identity.clientCertificateData!);
  } catch (err) {
    if (!(err instanceof CertFormatError)) throw err;
    entry.problems.push({
      code: 'unreadable',
      message: `${host.describe(path)}: client-certificate-data of user "${identity.userName}": ${err.message}`,
    });
    return entry;
  }
  if (!identity.clientKeyData) {
    entry.problems.push({ code: 'key-missing', message: `user "${identity.userName}" has no client-key-data` });
    return entry;
  }
  entry.keyPresent = true;
  if (!keys.leaf) return entry;
  try {
    if (keys.leaf === 'match') {
      entry.key = parseKeyUnlessMatching(identity.clientKeyData, entry.cert.spkiDer);
      entry.keyPem = identity.clientKeyData;
    } else entry.key = parsePrivateKey(identity.clientKeyData);
  } catch (err) {
    if (!(err instanceof KeyFormatError)) throw err;
    entry.problems.push({
      code: 'unreadable',
      message: `${host.describe(path)}: client-key-data of user "${identity.userName}": ${err.message}`,
    });
  }
  return entry;
}

/** The offset of the first byte that does not start a well-formed UTF-8 sequence (for the message). */
function firstNonUtf8(data: Buffer): number {
  for (let i = 0; i < data.length; ) {
    const c = data[i];
    const more = c < 0x80 ? 0 : c >= 0xc2 && c < 0xe0 ? 1 : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : -1;
    if (more < 0) return i;
    for (let k = 1; k <= more; k++) if (i + k >= data.length || (data[i + k] & 0xc0) !== 0x80) return i;
    i += more + 1;
  }
  return data.length;
}
