// The directory of requests on the operator's side (kpki csr --out, kpki import --from): DIR/<node>/<name>.csr, the
// CA team's signed <name>.crt beside each, and csr.json saying what each is. The directory is often a drop box shared
// between teams, so it is read as hostile input: the node's name is one path component, csr.json names files inside
// the node's directory only, and every file is a regular file within the size bound (never a FIFO or a device).
import { chmodSync, existsSync, lstatSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from '../../errors.js';
import { pathComponent, safeRelativePath } from '../../util/path-name.js';
import { readRegularFile } from '../../util/read-file.js';
import { CSR_MANIFEST, CsrManifest, CsrPlan, SignedFiles } from './node.js';

/** A node's directory under the requests' root; a node name that is not one path component is refused. */
export const nodeRequestDir = (root: string, node: string): string => join(root, pathComponent(node, 'node name'));

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
  const inside = (file: string) => {
    if (!safeRelativePath(file)) throw new UsageError(`${file}: not a file name inside ${dir}`);
    return join(dir, file);
  };
  for (const [file, pem] of plan.requests) {
    mkdirSync(dirname(inside(file)), { recursive: true });
    writeFileSync(inside(file), pem);
  }
  for (const [file, pem] of plan.localKeys) {
    // private keys on the operator's side: the directory and the key readable by their owner only
    mkdirSync(dirname(inside(file)), { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    writeFileSync(inside(file), pem, { mode: 0o600, flag: 'wx' });
  }
  writeFileSync(join(dir, CSR_MANIFEST), `${JSON.stringify(plan.manifest, null, 2)}\n`);
  return dir;
}

/** A file of the request directory: undefined when absent, its bytes when a regular file within the bound, else refused. */
function readRequestFile(dir: string, file: unknown, manifestFile: string): [string, Buffer | undefined] {
  const rel = safeRelativePath(file);
  if (!rel)
    throw new UsageError(
      `${manifestFile} names ${JSON.stringify(file)}: not a file inside ${dir} (no absolute paths, no "..")`,
      'csr.json is written by kpki csr; a request directory someone edited is not imported',
    );
  const path = join(dir, rel);
  if (!lstatOrUndefined(path)) return [rel, undefined];
  // (a symlink in the directory may not lead out of it either)
  const real = realpathSync(path);
  if (!real.startsWith(`${realpathSync(dir)}/`)) throw new UsageError(`${path} leads out of ${dir} (to ${real}): not imported`);
  try {
    return [rel, readRegularFile(real, { where: path })];
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** A node's requests and whatever the CA team put beside them; undefined when the node made none. */
export function readSignedRequests(root: string, node: string): { manifest: CsrManifest; signed: SignedFiles; dir: string } | undefined {
  const dir = nodeRequestDir(root, node);
  const manifestFile = join(dir, CSR_MANIFEST);
  if (!lstatOrUndefined(manifestFile)) return undefined;
  let manifest: CsrManifest;
  try {
    manifest = JSON.parse(readRegularFile(manifestFile).toString('utf8')) as CsrManifest;
  } catch (err) {
    throw new UsageError(`${manifestFile}: not a kpki csr manifest (${(err as Error).message})`);
  }
  if (manifest?.kind !== 'KpkiCertificateRequests' || !Array.isArray(manifest.requests))
    throw new UsageError(`${manifestFile} is not a kpki csr manifest`);
  const signed: SignedFiles = new Map(
    manifest.requests.flatMap((r) => [
      readRequestFile(dir, r?.crt, manifestFile),
      ...(r?.keyLocal !== undefined ? [readRequestFile(dir, r.keyLocal, manifestFile)] : []),
    ]),
  );
  return { manifest, signed, dir };
}
