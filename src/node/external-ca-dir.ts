// The directory of requests on the operator's side (kpki csr --out, kpki import --from): DIR/<node>/<name>.csr, the
// CA team's signed <name>.crt beside each, and csr.json saying what each must be. One layout for one node and -i.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from '../errors.js';
import { CSR_MANIFEST, CsrManifest, CsrPlan, SignedFiles } from './external-ca.js';

export const nodeRequestDir = (root: string, node: string): string => join(root, node);

/** New requests never overwrite requests that are waiting for their certificates. */
export function refuseWaitingRequests(root: string, nodes: string[]): void {
  const waiting = nodes.map((n) => join(nodeRequestDir(root, n), CSR_MANIFEST)).filter((f) => existsSync(f));
  if (waiting.length)
    throw new UsageError(
      `${waiting.join(', ')} exist${waiting.length === 1 ? 's' : ''}: import those first (kpki import), or choose another --out`,
    );
}

export function writeRequests(root: string, node: string, plan: CsrPlan): string {
  const dir = nodeRequestDir(root, node);
  for (const [file, pem] of plan.requests) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), pem);
  }
  for (const [file, pem] of plan.localKeys) {
    // private keys on the operator's side: the directory and the key readable by their owner only
    mkdirSync(dirname(join(dir, file)), { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    writeFileSync(join(dir, file), pem, { mode: 0o600, flag: 'wx' });
  }
  writeFileSync(join(dir, CSR_MANIFEST), `${JSON.stringify(plan.manifest, null, 2)}\n`);
  return dir;
}

/** A node's requests and whatever the CA team put beside them; undefined when the node made none. */
export function readSignedRequests(root: string, node: string): { manifest: CsrManifest; signed: SignedFiles; dir: string } | undefined {
  const dir = nodeRequestDir(root, node);
  const manifestFile = join(dir, CSR_MANIFEST);
  if (!existsSync(manifestFile)) return undefined;
  let manifest: CsrManifest;
  try {
    manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as CsrManifest;
  } catch (err) {
    throw new UsageError(`${manifestFile}: not JSON (${(err as Error).message})`);
  }
  if (manifest?.kind !== 'KpkiCertificateRequests' || !Array.isArray(manifest.requests))
    throw new UsageError(`${manifestFile} is not a kpki csr manifest`);
  const read = (file: string): [string, Buffer | undefined] => [
    file,
    existsSync(join(dir, file)) ? readFileSync(join(dir, file)) : undefined,
  ];
  const signed: SignedFiles = new Map(manifest.requests.flatMap((r) => [read(r.crt), ...(r.keyLocal ? [read(r.keyLocal)] : [])]));
  return { manifest, signed, dir };
}
