// Puts a cluster's renewed admin credentials into a user's kubeconfig that holds many clusters: only the entries of
// that cluster change (its CA, the matching users' client certificate and key); every other cluster, context, user,
// preference and comment stays as it was. This replaces the `cp admin.conf ~/.kube/config` that loses other contexts.
import { Document, isMap, isSeq, parseDocument, YAMLMap, YAMLSeq } from 'yaml';
import { parseCertificate } from '../pki/certificate.js';
import { KubeconfigError, KubeconfigIdentity, yamlStyleOf } from './kubeconfig.js';

export interface Credentials {
  server: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  clusterName: string;
  userName: string;
}

export interface MergeResult {
  text: string;
  changes: string[];
  /** Nothing in the target belonged to this cluster: its entries were added. */
  added: boolean;
  /**
   * Users of this identity whose certificate and key live in files (client-certificate, client-key as written in
   * the kubeconfig): the new ones go into those files, the kubeconfig's layout stays the user's.
   */
  fileUpdates: { user: string; certFile: string; keyFile?: string }[];
}

/** The client-certificate files a kubeconfig's users name, as written (kubectl reads a relative one from the kubeconfig's directory). */
export function referencedCertificateFiles(text: string): string[] {
  const doc = parseDocument(text);
  if (doc.errors.length > 0 || !isMap(doc.contents)) return [];
  return items(doc, 'users')
    .map((u) => u.get('user'))
    .filter((u): u is YAMLMap => isMap(u) && !u.get('client-certificate-data') && typeof u.get('client-certificate') === 'string')
    .map((u) => String(u.get('client-certificate')));
}

export function credentialsOf(identity: KubeconfigIdentity, source: string): Credentials {
  const { certificateAuthorityData: ca, clientCertificateData: cert, clientKeyData: key, server } = identity;
  if (!ca || !cert || !key || !server) throw new KubeconfigError(`${source} does not embed a CA, client certificate, key and server`);
  return {
    server,
    caPem: ca.toString(),
    certPem: cert.toString(),
    keyPem: key.toString(),
    clusterName: identity.clusterName ?? 'kubernetes',
    userName: identity.userName,
  };
}

const b64 = (text: string) => Buffer.from(text).toString('base64');
const unb64 = (value: unknown) => (typeof value === 'string' ? Buffer.from(value, 'base64').toString() : '');
const sameCert = (a: string, b: string) => {
  try {
    return parseCertificate(a).der.equals(parseCertificate(b).der);
  } catch {
    return false;
  }
};

function items(doc: Document, key: string): YAMLMap[] {
  const list = doc.get(key);
  return isSeq(list) ? list.items.filter((i): i is YAMLMap => isMap(i)) : [];
}

function unique(doc: Document, key: string, wanted: string): string {
  const names = new Set(items(doc, key).map((i) => String(i.get('name'))));
  let name = wanted;
  for (let n = 2; names.has(name); n++) name = `${wanted}-${n}`;
  return name;
}

/** `referenced`: the content of the client-certificate files the target names (referencedCertificateFiles), as read. */
export function mergeCredentials(targetText: string, from: Credentials, referenced = new Map<string, string>()): MergeResult {
  const doc = parseDocument(targetText);
  if (doc.errors.length > 0) throw new KubeconfigError(`not valid YAML: ${doc.errors[0].message.split('\n')[0]}`);
  if (!isMap(doc.contents)) throw new KubeconfigError('not a kubeconfig (no mapping at top level)');
  const changes: string[] = [];
  const clusters = refreshClusters(doc, from, changes);
  const users = updateUsers(doc, new Set(clusters.map((c) => String(c.get('name')))), from, referenced, changes);
  if (clusters.length > 0 && users.updated > 0)
    return { text: doc.toString(yamlStyleOf(targetText)), changes, added: false, fileUpdates: users.fileUpdates };
  addCluster(doc, clusters, from, changes);
  return { text: doc.toString(yamlStyleOf(targetText)), changes, added: true, fileUpdates: users.fileUpdates };
}

/** The cluster entries that are this cluster (same CA, or with a CA file or none the same server), their CA data refreshed. */
function refreshClusters(doc: Document, from: Credentials, changes: string[]): YAMLMap[] {
  const clusters = items(doc, 'clusters').filter((c) => {
    const cluster = c.get('cluster');
    if (!isMap(cluster)) return false;
    const ca = unb64(cluster.get('certificate-authority-data'));
    return ca ? sameCert(ca, from.caPem) : cluster.get('server') === from.server;
  });
  for (const c of clusters) {
    const cluster = c.get('cluster') as YAMLMap;
    if (cluster.has('certificate-authority-data') && unb64(cluster.get('certificate-authority-data')) !== from.caPem) {
      cluster.set('certificate-authority-data', b64(from.caPem));
      changes.push(`cluster ${c.get('name')}: CA data refreshed`);
    }
  }
  return clusters;
}

const commonNameOf = (pem: string): string | undefined => {
  try {
    return pem ? parseCertificate(pem).commonName : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Users that a context of this cluster uses and that hold a client certificate for the same identity (CN), embedded
 * or in a file (client-certificate): embedded ones get the new data, file ones are listed for the caller to write.
 */
function updateUsers(doc: Document, clusterNames: Set<string>, from: Credentials, referenced: Map<string, string>, changes: string[]) {
  const fromCn = parseCertificate(from.certPem).commonName;
  const userNames = new Set(
    items(doc, 'contexts')
      .map((c) => c.get('context'))
      .filter((c): c is YAMLMap => isMap(c) && clusterNames.has(String(c.get('cluster'))))
      .map((c) => String(c.get('user'))),
  );
  let updated = 0;
  const fileUpdates: MergeResult['fileUpdates'] = [];
  for (const u of items(doc, 'users').filter((u) => userNames.has(String(u.get('name'))))) {
    const user = u.get('user');
    if (!isMap(user)) continue;
    const name = String(u.get('name'));
    const embedded = Boolean(user.get('client-certificate-data'));
    const certFile = !embedded && typeof user.get('client-certificate') === 'string' ? String(user.get('client-certificate')) : undefined;
    const certPem = certFile ? (referenced.get(certFile) ?? '') : unb64(user.get('client-certificate-data'));
    const cn = commonNameOf(certPem);
    if (cn !== fromCn) {
      if (certPem || user.has('client-certificate'))
        changes.push(`user ${name}: left alone (a different identity${cn ? `, CN=${cn}` : ''})`);
      continue;
    }
    updated++;
    if (sameCert(certPem, from.certPem)) changes.push(`user ${name}: already has these credentials`);
    else if (certFile) {
      const keyFile = typeof user.get('client-key') === 'string' ? String(user.get('client-key')) : undefined;
      fileUpdates.push({ user: name, certFile, keyFile });
      changes.push(
        `user ${name}: client certificate and key replaced in ${[certFile, keyFile].filter(Boolean).join(' and ')} (CN=${fromCn})`,
      );
    } else {
      user.set('client-certificate-data', b64(from.certPem));
      user.set('client-key-data', b64(from.keyPem));
      changes.push(`user ${name}: client certificate and key replaced (CN=${fromCn})`);
    }
  }
  return { updated, fileUpdates };
}

/** Not there yet: this cluster's cluster, user and context added next to the others. */
function addCluster(doc: Document, clusters: YAMLMap[], from: Credentials, changes: string[]): void {
  const add = (key: string, node: unknown) => {
    let list = doc.get(key);
    if (!isSeq(list)) {
      list = new YAMLSeq();
      doc.set(key, list);
    }
    (list as YAMLSeq).add(doc.createNode(node));
  };
  const clusterName = clusters.length > 0 ? String(clusters[0].get('name')) : unique(doc, 'clusters', from.clusterName);
  if (clusters.length === 0)
    add('clusters', { cluster: { 'certificate-authority-data': b64(from.caPem), server: from.server }, name: clusterName });
  const userName = unique(doc, 'users', from.userName);
  add('users', { name: userName, user: { 'client-certificate-data': b64(from.certPem), 'client-key-data': b64(from.keyPem) } });
  const contextName = unique(doc, 'contexts', `${from.userName}@${from.clusterName}`);
  add('contexts', { context: { cluster: clusterName, user: userName }, name: contextName });
  if (!doc.get('current-context')) doc.set('current-context', contextName);
  changes.push(`added cluster ${clusterName}${clusters.length > 0 ? ' (existing)' : ''}, user ${userName} and context ${contextName}`);
}
