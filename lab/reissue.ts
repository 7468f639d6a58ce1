// Re-signs a lab node's certificates in place with chosen dates (same key, subject and extensions), e.g. to make
// one certificate expired on one node. Test tooling only: it writes directly, without kpki's safety machinery.
import { createPublicKey } from 'node:crypto';
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { LEAF_CATALOG } from '../src/kubeadm/catalog.js';
import { parseKubeconfig, withEmbeddedCredentials } from '../src/kubeadm/kubeconfig.js';
import { Certificate, certificateToPem, parseCertificate } from '../src/pki/certificate.js';
import { extensionsToCopy, issueCertificate } from '../src/pki/issue.js';
import { parsePrivateKey, privateKeyToPem } from '../src/pki/keys.js';

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

const DAY = 86_400_000;
export const EXPIRED = (): Validity => ({ notBefore: new Date(Date.now() - 366 * DAY), notAfter: new Date(Date.now() - DAY) });
export const VALID = (): Validity => ({ notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 365 * DAY) });

const CA_FILES: Record<string, string> = { ca: 'ca', 'etcd-ca': 'etcd/ca', 'front-proxy-ca': 'front-proxy-ca' };

function loadCa(caRoot: string, name: string): { cert: Certificate; key: ReturnType<typeof parsePrivateKey> } {
  const base = join(caRoot, '/etc/kubernetes/pki', CA_FILES[name]);
  return { cert: parseCertificate(readFileSync(`${base}.crt`)), key: parsePrivateKey(readFileSync(`${base}.key`)) };
}

async function resign(old: Certificate, keyPem: Buffer, ca: ReturnType<typeof loadCa>, validity: Validity): Promise<string> {
  const cert = await issueCertificate({
    subject: old.subjectDer,
    extensions: extensionsToCopy(old),
    publicKey: createPublicKey(parsePrivateKey(keyPem)),
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    signer: ca,
  });
  return certificateToPem(cert);
}

/** name: a kubeadm certificate name (apiserver, etcd-peer, ...), a kubeconfig (admin.conf, ...) or kubelet-client. */
export async function reissue(nodeRoot: string, caRoot: string, name: string, validity: Validity): Promise<void> {
  const leaf = LEAF_CATALOG.find((e) => e.name === name);
  if (leaf) {
    const base = join(nodeRoot, '/etc/kubernetes/pki', leaf.base);
    const pem = await resign(parseCertificate(readFileSync(`${base}.crt`)), readFileSync(`${base}.key`), loadCa(caRoot, leaf.ca), validity);
    writeFileSync(`${base}.crt`, pem);
    return;
  }
  if (name.endsWith('.conf')) {
    const path = join(nodeRoot, '/etc/kubernetes', name);
    const identity = parseKubeconfig(readFileSync(path, 'utf8'));
    if (identity.clientCertificateData && identity.clientKeyData) {
      const pem = await resign(parseCertificate(identity.clientCertificateData), identity.clientKeyData, loadCa(caRoot, 'ca'), validity);
      writeFileSync(path, withEmbeddedCredentials(identity, pem, identity.clientKeyData.toString()));
      return;
    }
    if (name !== 'kubelet.conf') throw new Error(`${path}: no embedded client certificate`);
  } else if (name !== 'kubelet-client') throw new Error(`unknown certificate name "${name}"`);
  // The kubelet's rotated PEM (cert + key in one file) behind kubelet-client-current.pem.
  const link = join(nodeRoot, '/var/lib/kubelet/pki/kubelet-client-current.pem');
  const pointsTo = readlinkSync(link); // a node path: resolve it inside the node's tree
  const target = isAbsolute(pointsTo) ? join(nodeRoot, pointsTo) : resolve(dirname(link), pointsTo);
  const text = readFileSync(target);
  const key = parsePrivateKey(text);
  const pem = await resign(parseCertificate(text), Buffer.from(privateKeyToPem(key)), loadCa(caRoot, 'ca'), validity);
  writeFileSync(target, pem + privateKeyToPem(key));
}
