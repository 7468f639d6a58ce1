// The controller-manager's root-ca-cert-publisher: the kube-root-ca.crt ConfigMap in every namespace holds the
// contents of --root-ca-file, which the controller-manager reads once at start (a new CA bundle needs a restart).
// Every pod's projected service-account volume carries it as ca.crt. The lab has no Namespace objects: these four are
// the ones every kubeadm cluster has.
import { readFileSync } from 'node:fs';
import { KubeCredentials, kubeRequest } from './kube-client.js';

const NAMESPACES = ['default', 'kube-node-lease', 'kube-public', 'kube-system'];

/** Returns a function that brings every kube-root-ca.crt up to date; true once they all are. */
export function rootCaPublisher(creds: KubeCredentials, rootCaFile: string): () => Promise<boolean> {
  const pem = readFileSync(rootCaFile, 'utf8');
  const done = new Set<string>();
  return async () => {
    for (const ns of NAMESPACES.filter((n) => !done.has(n))) {
      const path = `/api/v1/namespaces/${ns}/configmaps/kube-root-ca.crt`;
      const got = await kubeRequest(creds, 'GET', path, { timeoutMs: 2000 });
      const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-root-ca.crt', namespace: ns }, data: { 'ca.crt': pem } };
      let put;
      if (got.status === 404) put = await kubeRequest(creds, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body, timeoutMs: 2000 });
      else if (got.status === 200) {
        const current = JSON.parse(got.body);
        if (current.data?.['ca.crt'] === pem) {
          done.add(ns);
          continue;
        }
        put = await kubeRequest(creds, 'PUT', path, {
          body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } },
          timeoutMs: 2000,
        });
      }
      if (put && put.status < 300) done.add(ns);
    }
    return done.size === NAMESPACES.length;
  };
}
