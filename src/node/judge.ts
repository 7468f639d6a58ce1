// Structural judgement of a scanned node: which CA signed what (by key, never by name), key match, stale CA data,
// and whether kpki can renew each entry. Time-based status (expired, expiring) is decided at report time.
import { Certificate, isSignedBy, keyMatchesCertificate, parseCertificate } from '../pki/certificate.js';
import { CaEntry, CertEntry, NodeInventory, OWN_CA, SELF_SIGNED } from './inventory.js';

export function judgeEntries(inventory: NodeInventory): void {
  addEmbeddedCas(inventory);
  for (const ca of inventory.cas) judgeCa(ca);
  for (const entry of inventory.entries) judgeEntry(inventory, entry);
}

/** A node with kubeconfigs but no CA file (an operator's copy, a worker): trust what the kubeconfig embeds. */
function addEmbeddedCas(inventory: NodeInventory): void {
  if (inventory.cas.some((c) => c.name === 'ca' && c.cert)) return;
  for (const entry of inventory.entries) {
    const data = entry.kubeconfig?.certificateAuthorityData;
    if (!data) continue;
    try {
      const cert = parseCertificate(data);
      inventory.cas = inventory.cas.filter((c) => c.name !== 'ca');
      inventory.cas.unshift({
        name: 'ca',
        certPath: entry.path,
        keyPath: '',
        cert,
        keyPresent: false,
        missing: false,
        problems: [],
        embeddedOnly: true,
      });
      return;
    } catch {
      // Unreadable CA data is reported through the entry itself.
    }
  }
}

function judgeCa(ca: CaEntry): void {
  if (ca.cert && ca.key && !keyMatchesCertificate(ca.cert, ca.key)) {
    ca.problems.push({ code: 'key-mismatch', message: `CA key ${ca.keyPath} does not match ${ca.certPath}` });
    ca.key = undefined;
  }
}

function judgeEntry(inventory: NodeInventory, entry: CertEntry): void {
  const cert = entry.cert;
  if (!cert) {
    entry.notRenewable = entry.missing ? 'missing: kpki renews existing certificates only' : 'unreadable';
    return;
  }
  if (entry.key && !keyMatchesCertificate(cert, entry.key)) {
    entry.problems.push({ code: 'key-mismatch', message: `private key does not match the certificate ${entry.path}` });
  }
  if (cert.notBefore.getTime() > Date.now()) {
    entry.problems.push({ code: 'not-yet-valid', message: `not valid before ${cert.notBefore.toISOString()}` });
  }
  const signer = inventory.cas.find((ca) => ca.cert && isSignedBy(cert, ca.cert));
  if (signer) entry.signer = signer.name;
  else if ((entry.ownCa = ownCaOf(cert, entry.chain))) entry.signer = OWN_CA;
  else if (cert.selfSigned) entry.signer = SELF_SIGNED;

  if (entry.signer === SELF_SIGNED || entry.signer === OWN_CA) {
    // The kubelet's own serving certificate: renewed the way the kubelet made it (a new key, and a new throwaway CA
    // when the file carried one), so no CA of the node is needed.
    if ((entry.key || entry.keyPresent) && !entry.problems.some((p) => p.code === 'key-mismatch' || p.code === 'unreadable')) entry.renewable = true;
    else entry.notRenewable = `${entry.signer === OWN_CA ? 'signed by its own CA' : 'self-signed'}, and its key is missing or does not match`;
    return;
  }
  if (!signer) {
    if (inventory.cas.some((c) => c.cert)) {
      entry.problems.push({ code: 'not-signed-by-ca', message: `not signed by any CA on this node (issuer "${cert.issuer}")` });
    }
    entry.notRenewable = 'no CA on this node signed it';
    return;
  }
  if (entry.expectedCa && signer.name !== entry.expectedCa && inventory.cas.some((c) => c.name === entry.expectedCa && c.cert)) {
    entry.problems.push({ code: 'wrong-ca', message: `signed by ${signer.name}, expected ${entry.expectedCa}` });
  }
  checkEmbeddedCa(inventory, entry);
  if (!signer.keyPresent) {
    entry.notRenewable = `CA key of ${signer.name} is absent (externally managed)`;
    return;
  }
  if (entry.problems.some((p) => p.code === 'unreadable')) {
    entry.notRenewable = 'unreadable';
    return;
  }
  entry.renewable = true;
}

/** A self-signed CA written after the leaf in the same file whose key made the leaf's signature (client-go's shape). */
function ownCaOf(cert: Certificate, chain: Certificate[] | undefined): Certificate | undefined {
  return chain?.find((c) => c.isCA && c.selfSigned && isSignedBy(cert, c));
}

function checkEmbeddedCa(inventory: NodeInventory, entry: CertEntry): void {
  const data = entry.kubeconfig?.certificateAuthorityData;
  const ca = inventory.cas.find((c) => c.name === 'ca' && c.cert && !c.embeddedOnly);
  if (!data || !ca?.cert || entry.kind !== 'kubeconfig') return;
  try {
    if (!parseCertificate(data).der.equals(ca.cert.der)) {
      entry.problems.push({ code: 'ca-data-stale', message: `certificate-authority-data differs from ${ca.certPath}` });
    }
  } catch {
    entry.problems.push({ code: 'ca-data-stale', message: 'certificate-authority-data is not a readable certificate' });
  }
}
