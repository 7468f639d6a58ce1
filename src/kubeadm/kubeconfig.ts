// Kubeconfig model: read the identity a kubeconfig uses and replace embedded credentials,
// editing the YAML document in place so names, servers, extra entries and comments survive.
import { KpkiError } from '../errors.js';
import { Document, isMap, isSeq, parseDocument, YAMLMap } from 'yaml';

export class KubeconfigError extends KpkiError {}

export interface KubeconfigIdentity {
  doc: Document;
  /** The text it was parsed from (its layout is kept when it is rewritten). */
  text: string;
  contextName?: string;
  userName: string;
  clusterName?: string;
  server?: string;
  clientCertificateData?: Buffer;
  clientKeyData?: Buffer;
  clientCertificateFile?: string;
  clientKeyFile?: string;
  certificateAuthorityData?: Buffer;
  certificateAuthorityFile?: string;
}

function namedEntry(doc: Document, listKey: string, name: string, field: string): YAMLMap | undefined {
  const list = doc.get(listKey);
  if (!isSeq(list)) return undefined;
  for (const item of list.items) {
    if (isMap(item) && item.get('name') === name) {
      const inner = item.get(field);
      return isMap(inner) ? inner : undefined;
    }
  }
  return undefined;
}

function firstName(doc: Document, listKey: string): string | undefined {
  const list = doc.get(listKey);
  if (!isSeq(list)) return undefined;
  const first = list.items[0];
  return isMap(first) ? String(first.get('name')) : undefined;
}

function decodeData(value: unknown): Buffer | undefined {
  return typeof value === 'string' && value.length > 0 ? Buffer.from(value, 'base64') : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Re-emit YAML the way the file was written: kubectl and kubeadm put list items at their key's indentation. */
export function yamlStyleOf(text: string): { lineWidth: number; indentSeq: boolean; flowCollectionPadding: boolean } {
  // "key:" with its "- item" lines at the same indentation (kubectl, kubeadm) or deeper
  const sameColumn = /^( *)[^\s#-][^\n]*:[ \t]*\n\1- /m.test(text);
  const deeper = /^( *)[^\s#-][^\n]*:[ \t]*\n\1 +- /m.test(text);
  return { lineWidth: 0, indentSeq: deeper && !sameColumn, flowCollectionPadding: /[{[] [^\s}\]]/.test(text) };
}

// The base64 values (certificates and keys, a few KB each) are most of a kubeconfig's bytes, and a YAML lexer walks
// them character by character: they are set aside before parsing (a short token in their place) and put back in
// every value read and every text written, so the document is parsed and re-emitted exactly as before, only faster.
const LONG_DATA = /^([ \t-]*[\w.-]+-data[ \t]*:[ \t]+)([A-Za-z0-9+/]{64,}={0,2})[ \t]*$/gm;
const TOKEN = /kpki-set-aside-(\d+)-kpki/g;

interface SetAside {
  text: string;
  values: string[];
}

function setAside(text: string): SetAside {
  const values: string[] = [];
  const shrunk = text.replace(LONG_DATA, (_, head: string, value: string) => `${head}kpki-set-aside-${values.push(value) - 1}-kpki`);
  return { text: shrunk, values };
}

/** A text (or a value) with the set-aside base64 values back in their places. */
function putBack(text: string, values: string[]): string {
  return text.replace(TOKEN, (token, i: string) => values[Number(i)] ?? token);
}

const setAsideValues = new WeakMap<Document, string[]>();

const hasClientCertificate = (user: YAMLMap) => Boolean(user.get('client-certificate-data') || user.get('client-certificate'));

/** The users kubeadm writes into its kubeconfigs: the one to take when a file has several certificate users. */
const KUBEADM_USERS = [
  'kubernetes-admin',
  'kubernetes-super-admin',
  'system:kube-controller-manager',
  'system:kube-scheduler',
  'default-auth',
];

/** The one user of the file with a client certificate (or kubeadm's own among several), and a cluster a context gives it. */
function certificateUserOf(doc: Document): { name: string; user: YAMLMap; cluster?: string } | undefined {
  const users = doc.get('users');
  if (!isSeq(users)) return undefined;
  const withCert = users.items.flatMap((item) => {
    const user = isMap(item) ? item.get('user') : undefined;
    return isMap(item) && isMap(user) && hasClientCertificate(user) ? [{ name: String(item.get('name')), user }] : [];
  });
  const chosen =
    withCert.length === 1 ? withCert[0] : withCert.find((u) => KUBEADM_USERS.includes(u.name) || u.name.startsWith('system:node:'));
  if (!chosen) return undefined;
  const contexts = doc.get('contexts');
  const context = isSeq(contexts)
    ? contexts.items
        .map((c) => (isMap(c) ? c.get('context') : undefined))
        .find((c): c is YAMLMap => isMap(c) && c.get('user') === chosen.name)
    : undefined;
  return { ...chosen, cluster: str(context?.get('cluster')) };
}

/**
 * Parses a kubeconfig and resolves the current context's user and cluster. A current user without a client
 * certificate (a token or exec user someone added to a kubeadm kubeconfig and switched to) gives way to the file's
 * certificate user: kpki deals in certificates, and that one is still checked, renewed and used.
 */
export function parseKubeconfig(text: string): KubeconfigIdentity {
  const aside = setAside(text);
  const doc = parseDocument(aside.text);
  setAsideValues.set(doc, aside.values);
  const decode = (value: unknown) => decodeData(typeof value === 'string' ? putBack(value, aside.values) : value);
  if (doc.errors.length > 0) throw new KubeconfigError(`not valid YAML: ${doc.errors[0].message.split('\n')[0]}`);
  if (!isMap(doc.contents)) throw new KubeconfigError('not a kubeconfig (no mapping at top level)');
  const contextName = str(doc.get('current-context'));
  let userName: string | undefined;
  let clusterName: string | undefined;
  if (contextName) {
    const context = namedEntry(doc, 'contexts', contextName, 'context');
    if (!context) throw new KubeconfigError(`current-context "${contextName}" is not among its contexts`);
    userName = str(context.get('user'));
    clusterName = str(context.get('cluster'));
  } else {
    userName = firstName(doc, 'users');
    clusterName = firstName(doc, 'clusters');
  }
  if (!userName) throw new KubeconfigError('has no current user');
  let user = namedEntry(doc, 'users', userName, 'user');
  if (!user) throw new KubeconfigError(`lacks the current user "${userName}"`);
  if (!hasClientCertificate(user)) {
    // the current context uses a token or exec user someone added: the file's certificate user is still there
    const other = certificateUserOf(doc);
    if (other) ({ userName, clusterName, user } = { userName: other.name, clusterName: other.cluster ?? clusterName, user: other.user });
  }
  const cluster = clusterName ? namedEntry(doc, 'clusters', clusterName, 'cluster') : undefined;
  return {
    doc,
    text,
    contextName,
    userName,
    clusterName,
    server: str(cluster?.get('server')),
    clientCertificateData: decode(user.get('client-certificate-data')),
    clientKeyData: decode(user.get('client-key-data')),
    clientCertificateFile: str(user.get('client-certificate')),
    clientKeyFile: str(user.get('client-key')),
    certificateAuthorityData: decode(cluster?.get('certificate-authority-data')),
    certificateAuthorityFile: str(cluster?.get('certificate-authority')),
  };
}

/**
 * Returns the kubeconfig text with the user's embedded client cert/key and (optionally) the cluster's CA data replaced.
 * Only those scalar values change; the rest of the document is re-emitted as parsed.
 */
export function withEmbeddedCredentials(identity: KubeconfigIdentity, certPem: string, keyPem: string, caPem?: string): string {
  const doc = identity.doc.clone();
  const values = setAsideValues.get(identity.doc) ?? [];
  const user = namedEntry(doc, 'users', identity.userName, 'user');
  if (!user) throw new KubeconfigError(`lacks the user "${identity.userName}"`);
  user.set('client-certificate-data', Buffer.from(certPem).toString('base64'));
  user.set('client-key-data', Buffer.from(keyPem).toString('base64'));
  if (caPem && identity.clusterName) {
    const cluster = namedEntry(doc, 'clusters', identity.clusterName, 'cluster');
    if (cluster && cluster.has('certificate-authority-data')) {
      cluster.set('certificate-authority-data', Buffer.from(caPem).toString('base64'));
    }
  }
  return putBack(doc.toString(yamlStyleOf(identity.text)), values);
}

/** Returns the kubeconfig text with only its cluster's certificate-authority-data replaced (a CA rotation's bundle). */
export function withCertificateAuthorityData(identity: KubeconfigIdentity, caPem: string): string {
  const doc = identity.doc.clone();
  const values = setAsideValues.get(identity.doc) ?? [];
  const cluster = identity.clusterName ? namedEntry(doc, 'clusters', identity.clusterName, 'cluster') : undefined;
  if (!cluster?.has('certificate-authority-data')) throw new KubeconfigError('has no certificate-authority-data in its cluster');
  cluster.set('certificate-authority-data', Buffer.from(caPem).toString('base64'));
  return putBack(doc.toString(yamlStyleOf(identity.text)), values);
}

export interface KubeconfigSpec {
  clusterName: string;
  server: string;
  caPem: string;
  userName: string;
  certPem?: string;
  keyPem?: string;
  certFile?: string;
  keyFile?: string;
}

/** A kubeconfig laid out the way kubeadm writes one (keys sorted, one cluster, user and context). */
export function renderKubeconfig(spec: KubeconfigSpec): string {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const user =
    spec.certFile && spec.keyFile
      ? `    client-certificate: ${spec.certFile}\n    client-key: ${spec.keyFile}\n`
      : `    client-certificate-data: ${b64(spec.certPem ?? '')}\n    client-key-data: ${b64(spec.keyPem ?? '')}\n`;
  const context = `${spec.userName}@${spec.clusterName}`;
  return (
    'apiVersion: v1\nclusters:\n- cluster:\n' +
    `    certificate-authority-data: ${b64(spec.caPem)}\n    server: ${spec.server}\n  name: ${spec.clusterName}\n` +
    `contexts:\n- context:\n    cluster: ${spec.clusterName}\n    user: ${spec.userName}\n  name: ${context}\n` +
    `current-context: ${context}\nkind: Config\npreferences: {}\nusers:\n- name: ${spec.userName}\n  user:\n${user}`
  );
}
