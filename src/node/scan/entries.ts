// Reading one CA or one cert/key pair into inventory entries.
import type { Host } from '../../hosts/host.js';
import type { CaEntry, CertEntry } from './result.js';
import { KeyLoading, LOAD_ALL_KEYS, readCertificateChain, readMatchedKey, readOrStatKey } from './read.js';

export async function readCa(
  host: Host,
  name: string,
  certPath: string,
  keyPath: string,
  keys: KeyLoading = LOAD_ALL_KEYS,
): Promise<CaEntry> {
  const entry: CaEntry = { name, certPath, keyPath, keyPresent: false, missing: false, problems: [], embeddedOnly: false };
  const cert = await readCertificateChain(host, certPath);
  if (cert.ok) {
    entry.cert = cert.value.cert;
    // a bundle: a CA rotation in progress (old and new trusted), or CAs an operator added by hand
    if (cert.value.chain.length) entry.alsoTrusted = cert.value.chain;
  } else if (cert.absent) entry.missing = true;
  else entry.problems.push({ code: 'unreadable', message: `${host.describe(certPath)}: ${cert.error}` });
  // read-only commands only look whether the CA key is there: it is never pulled into memory to be looked at
  const key = await readOrStatKey(host, keyPath, keys.ca);
  if (key.ok) {
    entry.key = key.value;
    entry.keyPresent = true;
  } else if (!key.absent) {
    entry.problems.push({ code: 'unreadable', message: `${host.describe(keyPath)}: ${key.error}` });
  }
  return entry;
}

export async function readPairEntry(
  host: Host,
  spec: { name: string; certPath: string; keyPath: string; expectedCa?: string; kubeadm: boolean; source: string },
  keys: KeyLoading = LOAD_ALL_KEYS,
): Promise<CertEntry> {
  const entry: CertEntry = {
    name: spec.name,
    kind: 'leaf',
    slot: { kind: 'pair', certPath: spec.certPath, keyPath: spec.keyPath },
    path: spec.certPath,
    expectedCa: spec.expectedCa,
    missing: false,
    problems: [],
    kubeadm: spec.kubeadm,
    renewable: false,
    source: spec.source,
  };
  const cert = await readCertificateChain(host, spec.certPath);
  if (cert.ok) {
    entry.cert = cert.value.cert;
    if (cert.value.chain.length) entry.chain = cert.value.chain;
  } else if (cert.absent) entry.missing = true;
  else entry.problems.push({ code: 'unreadable', message: `${host.describe(spec.certPath)}: ${cert.error}` });
  if (entry.missing) return entry;
  const key =
    keys.leaf === 'match'
      ? await readMatchedKey(host, spec.keyPath, entry.cert?.spkiDer)
      : await readOrStatKey(host, spec.keyPath, keys.leaf);
  if (key.ok) {
    if (key.value && 'pem' in key.value) {
      entry.key = key.value.key;
      entry.keyPem = key.value.pem;
    } else entry.key = key.value;
    entry.keyPresent = true;
  } else if (key.absent) entry.problems.push({ code: 'key-missing', message: `private key ${spec.keyPath} is missing` });
  else entry.problems.push({ code: 'unreadable', message: `${host.describe(spec.keyPath)}: ${key.error}` });
  return entry;
}
