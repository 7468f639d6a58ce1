// The blast radius of a CA in the API: the ConfigMaps that carry it (kube-root-ca.crt in every namespace, cluster-info,
// extension-apiserver-authentication), APIService and webhook caBundles that hold it, and what depends on the
// service-account key (pods that mount tokens, legacy token Secrets). Read-only; a list the API refuses is named.
import type { RotatableCa } from '../kubeadm/ca-trust.js';
import { parse } from 'yaml';
import type { Certificate } from '../pki/certificate.js';
import { CERT_TYPE, parsePem } from '../pki/pem.js';
import { ApiAccess, apiGet } from './client.js';

export interface ApiBlastRadius {
  via: string;
  /** kube-root-ca.crt ConfigMaps: in how many namespaces, and how many hold this CA. */
  rootCaConfigMaps?: { namespaces: number; holding: number };
  /** kube-public/cluster-info (kubeadm join discovery) and kube-system/extension-apiserver-authentication. */
  configMaps: { name: string; present: boolean; holds: boolean; key: string }[];
  /** APIServices and webhook configurations whose caBundle holds this CA. */
  caBundles: { kind: string; name: string }[];
  /** Pods that mount a service-account token (they trust the cluster CA through kube-root-ca.crt). */
  tokenPods?: { pods: number; namespaces: string[] };
  /** Secrets of type kubernetes.io/service-account-token (signed by the service-account key). */
  legacyTokenSecrets?: number;
  /** What the API would not list (RBAC, a resource it does not serve). */
  notVisible: string[];
}

type Obj = Record<string, any>;

/** Every item of a list, page by page (real clusters hold thousands of pods). */
export async function listAll(api: ApiAccess, path: string): Promise<Obj[] | string> {
  const items: Obj[] = [];
  let next: string | undefined;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const got = await apiGet(api, `${path}${sep}limit=500${next ? `&continue=${encodeURIComponent(next)}` : ''}`, 30_000);
    if (got.status !== 200) return `HTTP ${got.status}`;
    items.push(...((got.json?.items as Obj[]) ?? []));
    next = (got.json?.metadata as Obj | undefined)?.continue || undefined;
  } while (next);
  return items;
}

const holds = (pem: string | undefined, ca: Certificate) =>
  Boolean(pem) && parsePem(pem!).some((b) => b.type === CERT_TYPE && b.der.equals(ca.der));

const fromBase64 = (v: unknown) => (typeof v === 'string' ? Buffer.from(v, 'base64').toString('latin1') : undefined);

async function configMap(api: ApiAccess, ns: string, name: string): Promise<Obj | undefined | string> {
  const got = await apiGet(api, `/api/v1/namespaces/${ns}/configmaps/${name}`, 10_000);
  if (got.status === 404) return undefined;
  return got.status === 200 ? (got.json as Obj) : `HTTP ${got.status}`;
}

/** cluster-info's embedded kubeconfig (a cluster only: no users, no contexts): its certificate-authority-data. */
function clusterInfoCa(cm: Obj): string | undefined {
  try {
    const doc = parse(String(cm.data?.kubeconfig ?? ''));
    return fromBase64(doc?.clusters?.[0]?.cluster?.['certificate-authority-data']);
  } catch {
    return undefined;
  }
}

const WATCHED: { ca: RotatableCa[]; ns: string; name: string; key: string; pem: (cm: Obj) => string | undefined }[] = [
  { ca: ['ca'], ns: 'kube-public', name: 'cluster-info', key: 'kubeconfig', pem: clusterInfoCa },
  {
    ca: ['ca'],
    ns: 'kube-system',
    name: 'extension-apiserver-authentication',
    key: 'client-ca-file',
    pem: (cm) => cm.data?.['client-ca-file'],
  },
  {
    ca: ['front-proxy-ca'],
    ns: 'kube-system',
    name: 'extension-apiserver-authentication',
    key: 'requestheader-client-ca-file',
    pem: (cm) => cm.data?.['requestheader-client-ca-file'],
  },
];

const BUNDLE_HOLDERS = [
  { kind: 'APIService', path: '/apis/apiregistration.k8s.io/v1/apiservices', bundles: (o: Obj) => [o.spec?.caBundle] },
  ...['Validating', 'Mutating'].map((k) => ({
    kind: `${k}WebhookConfiguration`,
    path: `/apis/admissionregistration.k8s.io/v1/${k.toLowerCase()}webhookconfigurations`,
    bundles: (o: Obj) => ((o.webhooks as Obj[]) ?? []).map((w) => w.clientConfig?.caBundle),
  })),
];

/** A pod mounts a service-account token: a projected serviceAccountToken source, or a legacy token Secret volume. */
function mountsToken(pod: Obj): boolean {
  return ((pod.spec?.volumes as Obj[]) ?? []).some(
    (v) =>
      (v.projected?.sources as Obj[] | undefined)?.some((s) => s.serviceAccountToken) ||
      /-token-[a-z0-9]{5}$/.test(v.secret?.secretName ?? ''),
  );
}

export async function apiBlastRadius(api: ApiAccess, via: string, caName: RotatableCa, ca?: Certificate): Promise<ApiBlastRadius> {
  const out: ApiBlastRadius = { via, configMaps: [], caBundles: [], notVisible: [] };
  if (ca && caName === 'ca') {
    const roots = await listAll(api, '/api/v1/configmaps?fieldSelector=metadata.name%3Dkube-root-ca.crt');
    if (typeof roots === 'string') out.notVisible.push(`ConfigMaps kube-root-ca.crt in every namespace (${roots})`);
    else out.rootCaConfigMaps = { namespaces: roots.length, holding: roots.filter((cm) => holds(cm.data?.['ca.crt'], ca)).length };
  }
  for (const w of WATCHED.filter((w) => ca && w.ca.includes(caName))) {
    const cm = await configMap(api, w.ns, w.name);
    if (typeof cm === 'string') out.notVisible.push(`ConfigMap ${w.ns}/${w.name} (${cm})`);
    else out.configMaps.push({ name: `${w.ns}/${w.name}`, key: w.key, present: Boolean(cm), holds: Boolean(cm) && holds(w.pem(cm!), ca!) });
  }
  if (ca && caName !== 'etcd-ca')
    for (const h of BUNDLE_HOLDERS) {
      const items = await listAll(api, h.path);
      if (typeof items === 'string') out.notVisible.push(`${h.kind}s (${items})`);
      else
        for (const o of items)
          if (h.bundles(o).some((b) => holds(fromBase64(b), ca))) out.caBundles.push({ kind: h.kind, name: String(o.metadata?.name) });
    }
  if (caName === 'ca' || caName === 'sa') {
    const pods = await listAll(api, '/api/v1/pods');
    if (typeof pods === 'string') out.notVisible.push(`Pods (${pods})`);
    else {
      const mounting = pods.filter(mountsToken);
      out.tokenPods = { pods: mounting.length, namespaces: [...new Set(mounting.map((p) => String(p.metadata?.namespace)))].sort() };
    }
  }
  if (caName === 'sa') {
    const secrets = await listAll(api, '/api/v1/secrets?fieldSelector=type%3Dkubernetes.io%2Fservice-account-token');
    if (typeof secrets === 'string') out.notVisible.push(`Secrets of type kubernetes.io/service-account-token (${secrets})`);
    else out.legacyTokenSecrets = secrets.length;
  }
  return out;
}
