// ../shared/tools/mklab.py: an independent generator of kubeadm 1.31-style trees (written from kubeadm's and
// client-go's source, not from kpki). Tests run it beside kpki's own lab as a second opinion; it is never copied here.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempRoot } from './kpki.js';

export const MKLAB = join(import.meta.dirname, '..', '..', '..', 'shared', 'tools', 'mklab.py');

export interface MklabNode {
  name: string;
  role: 'control-plane' | 'worker';
  dir: string;
  ip: string;
}

export interface MklabTree {
  dir: string;
  nodes: (MklabNode & { root: string })[];
  alg: string;
  leafNotAfter: Date;
}

/** A python with the modules mklab.py needs (cryptography, PyYAML), or undefined. */
function python(): string | undefined {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(candidate, ['-c', 'import cryptography, yaml'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}

/** Why mklab trees cannot be made here, or false. */
export function mklabSkipReason(): string | false {
  if (!existsSync(MKLAB)) return `mklab.py not found at ${MKLAB} (it lives in ../shared, beside the checkout)`;
  if (!python()) return 'python3 with cryptography and PyYAML is missing (.ci/run installs python3-cryptography python3-yaml)';
  return false;
}

/** Runs mklab.py into a new temp dir (with --manifests unless `bare`: then there is no lab.json, node dirs are listed). */
export function mklab(args: string[], bare = false): MklabTree {
  const dir = tempRoot('kpki-mklab-');
  const r = spawnSync(python()!, [MKLAB, dir, ...(bare ? [] : ['--manifests']), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mklab.py ${args.join(' ')} failed: ${r.stderr}`);
  if (bare) {
    const nodes = readdirSync(dir)
      .filter((d) => /^node\d+$/.test(d))
      .sort();
    const expired = /notAfter (\S+?)(;|$)/m.exec(r.stdout)?.[1];
    return {
      dir,
      alg: '',
      leafNotAfter: new Date(expired ?? 0),
      nodes: nodes.map((d, i) => ({ name: `cp${i + 1}`, role: 'control-plane', dir: d, ip: '', root: join(dir, d) })),
    };
  }
  const lab = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8'));
  return {
    dir,
    alg: lab.alg,
    leafNotAfter: new Date(lab.leaf_not_after),
    nodes: (lab.nodes as MklabNode[]).map((n) => ({ ...n, root: join(dir, n.dir) })),
  };
}
