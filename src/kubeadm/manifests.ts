// Static pod manifests: which component, and the --flags of its container command.
import { parse } from 'yaml';

export interface StaticPod {
  path?: string;
  component: string;
  flags: Map<string, string>;
}

export class ManifestError extends Error {}

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
  return { component: normaliseComponent(String(doc?.metadata?.name ?? ''), fileName), flags };
}

function normaliseComponent(name: string, fileName: string): string {
  for (const known of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd']) {
    if (name === known || fileName.startsWith(known)) return known;
  }
  return name;
}
