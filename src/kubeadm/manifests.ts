// Static pod manifests: which component, and the --flags of its container command.
import { KpkiError } from '../errors.js';
import { parse } from 'yaml';

export interface HttpGetProbe {
  host?: string;
  port: number;
  path: string;
  scheme: 'HTTP' | 'HTTPS';
}

export interface StaticPod {
  path?: string;
  component: string;
  /** metadata.name: the kubelet names the pod <name>-<node name> and its container after containers[0].name. */
  podName: string;
  containerName: string;
  flags: Map<string, string>;
  /** The kubelet's probes of the container (httpGet only). */
  probes: { liveness?: HttpGetProbe; readiness?: HttpGetProbe; startup?: HttpGetProbe };
  /** The container's working directory: relative paths in its flags are relative to it (kubeadm sets none: "/"). */
  workingDir: string;
}

function httpGet(raw: any): HttpGetProbe | undefined {
  const get = raw?.httpGet;
  if (!get || get.port === undefined) return undefined;
  return {
    host: get.host ? String(get.host) : undefined,
    port: Number(get.port),
    path: String(get.path ?? '/'),
    scheme: String(get.scheme ?? 'HTTP').toUpperCase() === 'HTTPS' ? 'HTTPS' : 'HTTP',
  };
}

export class ManifestError extends KpkiError {}

export function parseStaticPod(text: string, fileName: string): StaticPod {
  let doc: any;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ManifestError(`not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const container = doc?.spec?.containers?.[0];
  const words: unknown[] = [...(container?.command ?? []), ...(container?.args ?? [])];
  const flags = new Map<string, string>();
  for (const word of words) {
    const match = /^--([^=]+)=(.*)$/s.exec(String(word));
    if (match) flags.set(match[1], match[2]);
  }
  const podName = String(doc?.metadata?.name ?? '');
  return {
    component: normaliseComponent(podName, fileName),
    podName,
    containerName: String(container?.name ?? podName),
    flags,
    probes: {
      liveness: httpGet(container?.livenessProbe),
      readiness: httpGet(container?.readinessProbe),
      startup: httpGet(container?.startupProbe),
    },
    workingDir: typeof container?.workingDir === 'string' && container.workingDir.startsWith('/') ? container.workingDir : '/',
  };
}

function normaliseComponent(name: string, fileName: string): string {
  for (const known of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd']) {
    if (name === known || fileName.startsWith(known)) return known;
  }
  return name;
}
