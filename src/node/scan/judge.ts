// Structural judgement of a scanned node: which CA signed what (by key, never by name), key match, stale CA data,
// and whether kpki can renew each entry. Time-based status (expired, expiring) is decided at report time.
import { Certificate, isSignedBy, keyMatchesCertificate, parseCertificate, parseCertificates } from '../../pki/certificate.js';
import { CaEntry, CertEntry, NodeScan, OWN_CA, SELF_SIGNED } from './result.js';

export function judgeEntries(scan: NodeScan): void {
  addEmbeddedCas(scan);
  for (const ca of scan.cas) judgeCa(ca);
  for (const entry of scan.entries) judgeEntry(scan, entry);
}

/** A node with kubeconfigs but no CA file (an operator's copy, a worker): trust what the kubeconfig embeds. */
function addEmbeddedCas(scan: NodeScan): void {
  if (scan.cas.some((c) => c.name === 'ca' && c.cert)) return;
  for (const entry of scan.entries) {
    const data = entry.kubeconfig?.certificateAuthorityData;
    if (!data) continue;
    try {
      const cert = parseCertificate(data);
      scan.cas = scan.cas.filter((c) => c.name !== 'ca');
      scan.cas.unshift({
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

function judgeEntry(scan: NodeScan, entry: CertEntry): void {
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
  const chain = chainOf(cert, entry.chain ?? [], scan.cas);
  const signer = chain?.top === OWN_CA ? undefined : chain?.top;
  if (signer) entry.signer = signer.name;
  else if (chain?.top === OWN_CA) {
    entry.signer = OWN_CA;
    entry.ownCa = chain.issuers.at(-1);
  } else if (cert.selfSigned) entry.signer = SELF_SIGNED;
  if (chain) judgeChain(entry, cert, chain, signer);

  if (entry.signer === SELF_SIGNED || entry.signer === OWN_CA) {
    // The kubelet's own serving certificate: renewed the way the kubelet made it (a new key, and a new throwaway CA
    // when the file carried one), so no CA of the node is needed.
    const broken = entry.problems.some((p) => p.code === 'key-mismatch' || p.code === 'unreadable' || p.code === 'chain-invalid');
    if ((entry.key || entry.keyPresent) && !broken && (chain?.issuers.length ?? 1) <= 1) entry.renewable = true;
    else
      entry.notRenewable = `${entry.signer === OWN_CA ? 'signed by its own CA' : 'self-signed'}, and its key is missing or does not match, or its chain is not the kubelet's`;
    return;
  }
  if (!signer) {
    if (scan.cas.some((c) => c.cert)) {
      entry.problems.push({ code: 'not-signed-by-ca', message: `not signed by any CA on this node (issuer "${cert.issuer}")` });
    }
    entry.notRenewable = 'no CA on this node signed it';
    return;
  }
  if (chain!.issuers.length > 0) {
    // leaf <- intermediate(s) in the file <- a CA of the node: kpki has no intermediate's key to sign with
    entry.notRenewable = `signed by the intermediate CA "${chain!.issuers[0].subject}" in ${entry.path}, whose key kpki does not have`;
    return;
  }
  if (entry.expectedCa && signer.name !== entry.expectedCa && scan.cas.some((c) => c.name === entry.expectedCa && c.cert)) {
    entry.problems.push({ code: 'wrong-ca', message: `signed by ${signer.name}, expected ${entry.expectedCa}` });
  }
  checkEmbeddedCa(scan, entry);
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

interface Chain {
  /** The certificates of the file above the leaf, in order (each signed the one before it). */
  issuers: Certificate[];
  /** A CA of the node that signed the last of them (or the leaf), or OWN_CA: the last is self-signed, in the file. */
  top: CaEntry | typeof OWN_CA;
}

/** The most issuers followed above a leaf in its own file (real chains have one or two). */
const MAX_CHAIN_DEPTH = 8;
/** The most signature checks one chain may cost, as Go's verifier bounds it (maxChainSignatureChecks). */
const MAX_SIGNATURE_CHECKS = 100;

/**
 * Who signed a leaf, by key: a CA of the node, else a certificate after it in the same file (client-go's throwaway CA
 * for kubelet.crt, or intermediates), followed up to a CA of the node or a self-signed one. Candidates are those whose
 * subject is the issuer's name, as Go and openssl build chains, indexed once; the depth and the signature checks are
 * bounded, so a file of thousands of certificates costs no more than a real chain does.
 */
function chainOf(cert: Certificate, rest: Certificate[], cas: CaEntry[]): Chain | undefined {
  const bySubject = new Map<string, Certificate[]>();
  for (const c of rest) {
    const key = c.subjectDer.toString('latin1');
    const same = bySubject.get(key);
    if (same) same.push(c);
    else bySubject.set(key, [c]);
  }
  const withCert = cas.filter((c) => c.cert);
  let checks = 0;
  const signs = (issuer: Certificate, child: Certificate) => ++checks <= MAX_SIGNATURE_CHECKS && isSignedBy(child, issuer);
  const issuers: Certificate[] = [];
  let current = cert;
  for (let depth = 0; depth <= Math.min(rest.length, MAX_CHAIN_DEPTH); depth++) {
    // the CA whose subject is the issuer's name first (a signature check each is the cost; names alone are not proof)
    const named = (c: CaEntry) => c.cert!.subjectDer.equals(current.issuerDer);
    const ca = [...withCert.filter(named), ...withCert.filter((c) => !named(c))].find((c) => signs(c.cert!, current));
    if (ca) return { issuers, top: ca };
    const next = (bySubject.get(current.issuerDer.toString('latin1')) ?? []).find(
      (c) => c !== current && !issuers.includes(c) && signs(c, current),
    );
    if (!next) return undefined;
    issuers.push(next);
    if (next.selfSigned) return { issuers, top: OWN_CA };
    current = next;
  }
  return undefined;
}

/** What Go's verifier and openssl check on the way up: each issuer a CA allowed to sign, path lengths kept. */
function judgeChain(entry: CertEntry, cert: Certificate, chain: Chain, signer?: CaEntry): void {
  const above = [...chain.issuers, ...(signer?.cert ? [signer.cert] : [])];
  above.forEach((issuer, i) => {
    const name = i === above.length - 1 && signer ? `${signer.name} (${signer.certPath})` : `"${issuer.subject}" in ${entry.path}`;
    if (!issuer.isCA)
      entry.problems.push({
        code: 'chain-invalid',
        message: `signed by ${name}, which is not a CA (basicConstraints): Go and openssl reject the chain`,
      });
    else if (issuer.keyUsages.length > 0 && !issuer.keyUsages.includes('keyCertSign'))
      entry.problems.push({ code: 'chain-invalid', message: `signed by ${name}, whose key usage does not allow signing certificates` });
    // i intermediates stand between this issuer and the leaf (the leaf's own issuer has none)
    if (issuer.pathLength !== undefined && i > issuer.pathLength)
      entry.problems.push({
        code: 'chain-invalid',
        message: `${name} allows ${issuer.pathLength} intermediate CA(s) below it (pathLenConstraint) and has ${i}: Go and openssl reject the chain`,
      });
  });
  const caEnd = Math.min(...above.map((c) => c.notAfter.getTime()));
  if (caEnd < cert.notAfter.getTime()) {
    entry.problems.push({
      code: 'outlives-ca',
      message: `valid until ${cert.notAfter.toISOString()}, but its CA expires ${new Date(caEnd).toISOString()}: it stops working then`,
    });
  }
}

function checkEmbeddedCa(scan: NodeScan, entry: CertEntry): void {
  const data = entry.kubeconfig?.certificateAuthorityData;
  const ca = scan.cas.find((c) => c.name === 'ca' && c.cert && !c.embeddedOnly);
  if (!data || !ca?.cert || entry.kind !== 'kubeconfig') return;
  try {
    // (during a CA rotation both hold the same bundle of old and new, in either order)
    const held = parseCertificates(data);
    const trusted = [ca.cert, ...(ca.alsoTrusted ?? [])];
    const same = held.length === trusted.length && held.every((c) => trusted.some((t) => t.der.equals(c.der)));
    if (held.length === 0) throw new Error('no certificate');
    if (!same) {
      entry.problems.push({ code: 'ca-data-stale', message: `certificate-authority-data differs from ${ca.certPath}` });
    }
  } catch {
    entry.problems.push({ code: 'ca-data-stale', message: 'certificate-authority-data is not a readable certificate' });
  }
}
