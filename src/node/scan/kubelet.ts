// The kubelet's own files: the rotated client identity (cert and key in one PEM behind a symlink) and the serving cert.
import { posix } from 'node:path';
import type { Host } from '../../hosts/host.js';
import { KUBELET_PKI_DIR } from '../../kubeadm/catalog.js';
import { CertFormatError, parseCertificateChain } from '../../pki/certificate.js';
import { KeyFormatError, parseKeyUnlessMatching, parsePrivateKey } from '../../pki/keys.js';
import type { CertEntry } from './result.js';
import { KeyLoading, LOAD_ALL_KEYS, readOptional } from './read.js';
import { readPairEntry } from './entries.js';

export async function readCombinedEntry(
  host: Host,
  name: string,
  linkPath: string,
  source: string,
  keys: KeyLoading = LOAD_ALL_KEYS,
): Promise<CertEntry> {
  const filePath = await host.resolve(linkPath).catch(() => linkPath);
  const entry: CertEntry = {
    name,
    kind: 'leaf',
    slot: { kind: 'combined', linkPath, filePath },
    path: linkPath,
    expectedCa: 'ca',
    missing: false,
    problems: [],
    kubeadm: false,
    renewable: false,
    source,
  };
  const file = await readOptional(host, linkPath);
  if (!file.ok) {
    if (file.absent) entry.missing = true;
    else entry.problems.push({ code: 'unreadable', message: `${host.describe(linkPath)}: ${file.error}` });
    return entry;
  }
  try {
    const [cert, ...chain] = parseCertificateChain(file.value);
    entry.cert = cert;
    if (chain.length) entry.chain = chain;
    if (keys.leaf === 'match') {
      entry.key = parseKeyUnlessMatching(file.value, cert.spkiDer);
      entry.keyPem = file.value;
    } else if (keys.leaf) entry.key = parsePrivateKey(file.value);
    else if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(file.value.toString('latin1')))
      throw new KeyFormatError('no PEM private key found');
    entry.keyPresent = true;
  } catch (err) {
    if (!(err instanceof CertFormatError) && !(err instanceof KeyFormatError)) throw err;
    const code = err instanceof KeyFormatError && entry.cert ? 'key-missing' : 'unreadable';
    entry.problems.push({ code, message: `${host.describe(linkPath)}: ${err.message}` });
  }
  return entry;
}

/** Kubelet files that no kubeconfig pointed at: the serving cert, and the client PEM on nodes without kubelet.conf. */
export async function scanKubeletFiles(host: Host, known: CertEntry[], keys: KeyLoading = LOAD_ALL_KEYS): Promise<CertEntry[]> {
  const entries: CertEntry[] = [];
  const clientPath = posix.join(KUBELET_PKI_DIR, 'kubelet-client-current.pem');
  if (!known.some((e) => e.name === 'kubelet-client' || e.name === 'kubelet.conf') && (await host.stat(clientPath))) {
    entries.push(await readCombinedEntry(host, 'kubelet-client', clientPath, 'kubelet pki dir', keys));
  }
  const servingRotated = posix.join(KUBELET_PKI_DIR, 'kubelet-server-current.pem');
  if (await host.stat(servingRotated)) {
    entries.push(await readCombinedEntry(host, 'kubelet-serving', servingRotated, 'kubelet pki dir (serverTLSBootstrap)', keys));
  } else if (await host.stat(posix.join(KUBELET_PKI_DIR, 'kubelet.crt'))) {
    const serving = await readPairEntry(
      host,
      {
        name: 'kubelet-serving',
        certPath: posix.join(KUBELET_PKI_DIR, 'kubelet.crt'),
        keyPath: posix.join(KUBELET_PKI_DIR, 'kubelet.key'),
        kubeadm: false,
        source: 'kubelet pki dir',
      },
      keys,
    );
    entries.push(serving);
  }
  return entries;
}
