// kube-system/extension-apiserver-authentication as kube-apiserver publishes it (its cluster authentication trust
// controller): the client CA and the front-proxy (requestheader) CA bundles from its flags, written at start and again
// whenever the files change, so aggregated API servers and components with delegated authentication follow a CA change.
import { readFileSync } from 'node:fs';
import type { EtcdClient } from './etcd-client.js';
import type { Flags } from './flags.js';

const KEY = '/registry/configmaps/kube-system/extension-apiserver-authentication';

export function authenticationPublisher(etcd: EtcdClient, flags: Flags): () => Promise<void> {
  let published = '';
  return async () => {
    const data: Record<string, string> = { 'client-ca-file': readFileSync(flags.require('client-ca-file'), 'utf8') };
    const requestHeaderCa = flags.get('requestheader-client-ca-file');
    if (requestHeaderCa) {
      data['requestheader-client-ca-file'] = readFileSync(requestHeaderCa, 'utf8');
      data['requestheader-allowed-names'] = JSON.stringify((flags.get('requestheader-allowed-names') ?? '').split(',').filter(Boolean));
      for (const f of ['extra-headers-prefix', 'group-headers', 'username-headers'])
        data[`requestheader-${f}`] = JSON.stringify((flags.get(`requestheader-${f}`) ?? '').split(',').filter(Boolean));
    }
    const text = JSON.stringify(data);
    if (text === published) return;
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'extension-apiserver-authentication', namespace: 'kube-system' },
      data,
    };
    await etcd.put(KEY, JSON.stringify(cm));
    published = text;
  };
}
