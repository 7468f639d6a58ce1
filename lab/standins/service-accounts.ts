// Service-account tokens as kube-apiserver handles them, for the stand-in: the public keys of
// --service-account-key-file and the private key of --service-account-signing-key-file are read once, at start (a
// changed sa.pub or sa.key takes a restart, as on a real server); a bearer token is a service account when its
// signature verifies with one of those keys, its issuer is --service-account-issuer and it has not expired;
// TokenRequest signs with the signing key; /openid/v1/jwks publishes the verifying keys with kube-apiserver's key IDs.
import { createPrivateKey, createPublicKey, KeyObject, randomUUID, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { publicKeysOf, serviceAccountKeyId } from '../../src/pki/public-keys.js';
import type { Flags } from './flags.js';

export interface ServiceAccountUser {
  name: string;
  groups: string[];
}

const b64 = (data: Buffer | string) => Buffer.from(data).toString('base64url');
const algOf = (key: KeyObject) => (key.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256');

export class ServiceAccountTokens {
  readonly issuer: string;
  private readonly keys: { kid: string; key: KeyObject }[];
  private readonly signer?: { kid: string; key: KeyObject };

  constructor(flags: Flags) {
    this.issuer = flags.get('service-account-issuer', 'https://kubernetes.default.svc.cluster.local')!;
    const keyFile = flags.get('service-account-key-file');
    this.keys = keyFile ? publicKeysOf(readFileSync(keyFile)).map((key) => ({ kid: serviceAccountKeyId(key), key })) : [];
    const signingFile = flags.get('service-account-signing-key-file');
    if (signingFile) {
      const key = createPrivateKey(readFileSync(signingFile));
      this.signer = { kid: serviceAccountKeyId(createPublicKey(key)), key };
    }
  }

  get keyIds(): string[] {
    return this.keys.map((k) => k.kid);
  }

  jwks(): unknown {
    return {
      keys: this.keys.map(({ kid, key }) => ({ ...key.export({ format: 'jwk' }), kid, use: 'sig', alg: algOf(key) })),
    };
  }

  /** A bound token for namespace/name, as TokenRequest returns it. */
  issue(namespace: string, name: string, seconds: number): { token: string; expirationTimestamp: string } {
    if (!this.signer) throw new Error('no --service-account-signing-key-file');
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: algOf(this.signer.key), kid: this.signer.kid };
    const claims = {
      aud: [this.issuer],
      exp: now + seconds,
      iat: now,
      nbf: now,
      iss: this.issuer,
      sub: `system:serviceaccount:${namespace}:${name}`,
      'kubernetes.io': { namespace, serviceaccount: { name, uid: randomUUID() } },
    };
    const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(input), { key: this.signer.key, dsaEncoding: 'ieee-p1363' });
    return { token: `${input}.${b64(signature)}`, expirationTimestamp: new Date((now + seconds) * 1000).toISOString() };
  }

  /** The service account a bearer token stands for, or undefined (the server answers 401). */
  authenticate(token: string): ServiceAccountUser | undefined {
    const [header, payload, signature] = token.split('.');
    if (!header || !payload || !signature) return undefined;
    const input = Buffer.from(`${header}.${payload}`);
    const sig = Buffer.from(signature, 'base64url');
    // every key is tried, as kube-apiserver does (the kid is only a hint)
    if (!this.keys.some(({ key }) => verify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, sig))) return undefined;
    try {
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const ns = claims['kubernetes.io']?.namespace;
      if (claims.iss !== this.issuer || typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now() || !ns) return undefined;
      return { name: String(claims.sub), groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'] };
    } catch {
      return undefined;
    }
  }
}
