// A name that becomes one component of a path (a node's directory under --out, a backup of a node): node names come
// from certificates, inventories and the API, which are input, so "../../x" or "a/b" must never reach join().
import { UsageError } from '../errors.js';

/** One path component: not empty, not "." or "..", no "/" and no NUL; at most 253 bytes (a DNS name's length). */
export function isPathComponent(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name !== '.' && name !== '..' && !/[/\0]/.test(name);
}

/** The name itself when it is one path component; refused otherwise (exit 2), naming `where` it came from. */
export function pathComponent(name: string, where: string): string {
  if (!isPathComponent(name))
    throw new UsageError(
      `${where}: the name ${JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}...` : name)} cannot name a directory (it must be one path component: no "/", not "." or "..", not empty)`,
    );
  return name;
}

/**
 * A relative path given by a file kpki reads (csr.json): plain components only, none of them "." or "..", never
 * absolute; undefined when it is not one.
 */
export function safeRelativePath(path: unknown): string | undefined {
  if (typeof path !== 'string' || path.startsWith('/') || path.length > 1024) return undefined;
  const parts = path.split('/');
  return parts.every(isPathComponent) ? path : undefined;
}
