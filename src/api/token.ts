// Bootstrap tokens the way `kubeadm token create` makes them: a Secret in kube-system created through the API (kpki's
// own client, with an admin kubeconfig), and the join command with the CA's public key hash.
import { createHash, randomInt } from 'node:crypto';
import { apiAccessOf, apiRequest } from './client.js';
import type { Certificate } from '../pki/certificate.js';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const random = (n: number) => Array.from({ length: n }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');

export interface BootstrapToken {
  id: string;
  secret: string;
  expires: Date;
}

export function newToken(ttlMs: number, now = new Date()): BootstrapToken {
  return { id: random(6), secret: random(16), expires: new Date(now.getTime() + ttlMs) };
}

/** kubeadm's --discovery-token-ca-cert-hash: sha256 of the CA certificate's SubjectPublicKeyInfo. */
export function caCertHash(ca: Certificate): string {
  const spki = ca.publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

export async function createTokenSecret(kubeconfigText: string, token: BootstrapToken, description: string): Promise<void> {
  const res = await apiRequest(apiAccessOf(kubeconfigText), 'POST', '/api/v1/namespaces/kube-system/secrets', {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `bootstrap-token-${token.id}`, namespace: 'kube-system' },
    type: 'bootstrap.kubernetes.io/token',
    stringData: {
      'token-id': token.id,
      'token-secret': token.secret,
      expiration: token.expires.toISOString().replace(/\.\d+Z$/, 'Z'),
      'usage-bootstrap-authentication': 'true',
      'usage-bootstrap-signing': 'true',
      'auth-extra-groups': 'system:bootstrappers:kubeadm:default-node-token',
      description,
    },
  });
  if (res.status !== 201 && res.status !== 200) {
    const message = (res.json as { message?: string } | undefined)?.message ?? res.body.slice(0, 200);
    throw Object.assign(new Error(message), { code: res.status });
  }
}
