// openssl judges a whole node tree: every certificate kpki lists is verified against the CA that must have signed it
// (a CA file of the node, or, for the kubelet's own serving certificate, the CA written after it in the same file),
// and its private key must match.
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';
import { parse } from 'yaml';
import { kpki } from './kpki.js';
import { certTexts, openssl, publicKeyTextOfKey, tempFile, verifiesEach } from './openssl.js';

export interface JsonItem {
  name: string;
  path: string;
  keyPath?: string;
  notAfter?: string;
  missing: boolean;
  renewable?: boolean;
  caName?: string;
  status: string[];
  severity: number;
  problems: { code: string; message: string }[];
  issuer?: string;
  subject?: string;
}

export interface JsonInfo {
  certificates: JsonItem[];
  certificateAuthorities: JsonItem[];
  files?: { path: string; code: string; message: string }[];
  interruptedRun?: { operation: string; backupId: string; backupPresent: boolean };
}

export function checkJson(root: string, flags: string[] = []): { status: number; info: JsonInfo; stderr: string } {
  const r = kpki(['--root', root, ...flags, 'check', '-o', 'json']);
  assert.notEqual(r.status, 3, `check could not read ${root}: ${r.stderr}`);
  return { status: r.status, info: JSON.parse(r.stdout), stderr: r.stderr };
}

/** Every PEM certificate block of a file, in order. */
export function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];
}

/** A node path with every symlink on the way followed inside the node's root (an absolute link target is a node path). */
export function inRoot(root: string, nodePath: string): string {
  const pending = nodePath.split('/').filter(Boolean);
  let resolved = '';
  for (let hops = 0; pending.length; ) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved = posix.dirname(resolved || '/').replace(/^\/$/, '');
      continue;
    }
    const next = `${resolved}/${part}`;
    const st = lstatSync(join(root, next), { throwIfNoEntry: false });
    if (!st?.isSymbolicLink()) {
      resolved = next;
      continue;
    }
    if (++hops > 40) throw new Error(`${root}${nodePath}: too many symlinks`);
    const target = readlinkSync(join(root, next));
    pending.unshift(...target.split('/').filter(Boolean));
    if (target.startsWith('/')) resolved = '';
  }
  return join(root, resolved);
}

/** The certificate and key files of an item: kubeconfig data is written to temp files. */
export function credentialFiles(root: string, item: JsonItem): { cert: string; key: string } {
  const file = inRoot(root, item.path);
  if (/\.conf$|\/config$/.test(item.path) && !item.keyPath) {
    const doc = parse(readFileSync(file, 'utf8'));
    const ctx = doc.contexts.find((c: { name: string }) => c.name === doc['current-context']).context;
    const user = doc.users.find((u: { name: string }) => u.name === ctx.user).user;
    return {
      cert: tempFile(Buffer.from(user['client-certificate-data'], 'base64')),
      key: tempFile(Buffer.from(user['client-key-data'], 'base64')),
    };
  }
  return { cert: file, key: inRoot(root, item.keyPath ?? item.path) };
}

/** openssl verifies every present certificate of the node against its CA, and every key matches. Returns the count. */
export function judgeNode(root: string, info: JsonInfo, label: string): number {
  const judged = info.certificates
    .filter((item) => !item.missing && item.notAfter)
    .map((item) => {
      const { cert, key } = credentialFiles(root, item);
      const blocks = pemBlocks(readFileSync(cert, 'utf8'));
      let caFile: string;
      if (item.caName === 'own-ca') {
        // the kubelet's shape: leaf first, its throwaway CA second (openssl verify -CAfile <(second certificate))
        assert.ok(
          blocks.length >= 2,
          `${label}: ${item.name} is judged against its own CA but ${item.path} holds ${blocks.length} certificate(s)`,
        );
        caFile = tempFile(blocks[1]);
      } else {
        const ca = info.certificateAuthorities.find((c) => c.name === item.caName);
        assert.ok(ca, `${label}: ${item.name} names CA ${item.caName}, which check does not list`);
        caFile = inRoot(root, ca.path);
      }
      return { item, caFile, leaf: tempFile(blocks[0]), key };
    });
  // one openssl verify per CA and one storeutl for every leaf: the same verdicts as a run per certificate
  const verdicts = verifiesEach(judged.map((j): [string, string] => [j.caFile, j.leaf]));
  const texts = certTexts(judged.map((j) => j.leaf));
  judged.forEach(({ item, key }, i) => {
    assert.ok(verdicts[i].ok, `${label}: openssl verify ${item.name} (${item.path}): ${verdicts[i].output}`);
    assert.ok(texts[i].publicKey.length > 0, `${label}: ${item.name}: openssl printed no public key`);
    assert.equal(texts[i].publicKey, publicKeyTextOfKey(key), `${label}: ${item.name}: the key does not match the certificate`);
  });
  return judged.length;
}

/** notAfter as openssl reads it from the first certificate of a file. */
export function opensslNotAfter(file: string): Date {
  return new Date(/notAfter=(.*)/.exec(openssl(['x509', '-in', file, '-noout', '-enddate']).stdout)![1]);
}
