// Legacy service-account token Secrets (type kubernetes.io/service-account-token): the controller-manager signed each
// once with --service-account-private-key-file and nobody re-signs them. Which of them a set of public keys verifies
// tells who loses access when those keys are dropped (the finish phase of a service-account key rotation).
import { type KeyObject, verify } from 'node:crypto';
import { listAll } from './ca-objects.js';
import type { ApiAccess } from './client.js';

const HASH: Record<string, string> = {
  RS256: 'sha256',
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
  RS384: 'sha384',
  RS512: 'sha512',
};

/** Does one of `keys` verify this JWT's signature? */
export function signedByOneOf(jwt: string, keys: KeyObject[]): boolean {
  const [header, payload, signature] = jwt.split('.');
  if (!header || !payload || !signature) return false;
  let alg: string;
  try {
    alg = String(JSON.parse(Buffer.from(header, 'base64url').toString()).alg);
  } catch {
    return false;
  }
  const hash = HASH[alg];
  if (!hash) return false;
  const input = Buffer.from(`${header}.${payload}`);
  const sig = Buffer.from(signature, 'base64url');
  return keys.some((key) => {
    try {
      return verify(hash, input, { key, dsaEncoding: 'ieee-p1363' }, sig);
    } catch {
      return false; // a key of another kind than the token's algorithm
    }
  });
}

/** namespace/name of every legacy token Secret signed by one of `keys`; a string when the API does not answer. */
export async function legacyTokensSignedBy(api: ApiAccess, keys: KeyObject[]): Promise<string[] | string> {
  const items = await listAll(api, '/api/v1/secrets?fieldSelector=type%3Dkubernetes.io%2Fservice-account-token');
  if (typeof items === 'string') return items;
  return items
    .filter((s) => s.data?.token && signedByOneOf(Buffer.from(s.data.token, 'base64').toString(), keys))
    .map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`);
}
