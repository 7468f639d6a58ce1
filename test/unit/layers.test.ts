// The dependency rule: imports in src/ point down the layers, never up, and nothing in src/ reaches outside it (the
// running lab, tests). A new arrow upwards fails here, with the file and the import that breaks the rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(import.meta.dirname, '..', '..', 'src');

/** Bottom first. A file may import its own layer and those below it, never a layer above or beside it. */
const LAYERS: string[][] = [
  ['errors.ts', 'util'],
  ['hosts'],
  ['pki'],
  ['kubeadm'],
  ['node'],
  ['api'],
  ['service', 'trees'],
  ['automation', 'cluster'],
  ['report'],
  ['cli'],
];
const rank = (part: string) => LAYERS.findIndex((l) => l.includes(part));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/** Relative imports of a file, static and dynamic, type-only included (they couple the code as much). */
export function importsOf(text: string): string[] {
  return [...text.matchAll(/(?:from\s+|import\s*\(?\s*)'(\.[^']+)'/g)].map((m) => m[1]);
}

const layerOf = (file: string) => relative(SRC, file).split('/')[0];

test('imports in src/ point down the layers (errors, util → hosts → pki → kubeadm → node → api → service → cluster, automation → report → cli)', () => {
  const wrong: string[] = [];
  for (const file of files(SRC)) {
    const from = layerOf(file);
    assert.notEqual(rank(from), -1, `${relative(SRC, file)}: ${from} is in no layer; add it to LAYERS`);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec);
      if (relative(SRC, target).startsWith('..')) {
        wrong.push(`${relative(SRC, file)} imports ${spec}: outside src/ (the lab and the tests use src/, never the other way)`);
        continue;
      }
      const to = layerOf(target);
      if (to === from) continue;
      if (rank(to) >= rank(from))
        wrong.push(
          `${relative(SRC, file)} (${from}) imports ${spec} (${to}): ${rank(to) > rank(from) ? 'a layer above' : 'a layer beside'} it`,
        );
    }
  }
  assert.deepEqual(wrong, []);
});

test('the rule can fail: an upward import and one out of src/ are found', () => {
  assert.deepEqual(importsOf(`import { a } from '../cli/x.js';\nconst m = await import('../../lab/y.js');\nimport 'node:fs';`), [
    '../cli/x.js',
    '../../lab/y.js',
  ]);
  assert.ok(rank('node') < rank('cli') && rank('report') > rank('cluster'));
});

/** The rooms of node/: a file outside a room reaches it through its index.ts only. */
const NODE = join(SRC, 'node');
const ROOMS = readdirSync(NODE).filter((name) => statSync(join(NODE, name)).isDirectory());

/** The import of `spec` from `file` that goes past a room's door (its index.ts), if it does. */
export function deepImport(file: string, spec: string): string | undefined {
  const target = relative(NODE, resolve(dirname(file), spec));
  const [room, ...inside] = target.split('/');
  if (target.startsWith('..') || inside.length === 0 || !ROOMS.includes(room)) return undefined;
  if (relative(NODE, dirname(file)).split('/')[0] === room && !relative(NODE, file).startsWith('..')) return undefined;
  return inside.join('/') === 'index.js'
    ? undefined
    : `${relative(SRC, file)} imports ${spec}: past the door of node/${room}/ (import ../node/${room}/index.js)`;
}

test('node/ is rooms (scan, renew, txn, rotation, kubelet, kubeconfig, external-ca), each entered through its index.ts', () => {
  assert.deepEqual(ROOMS.sort(), ['external-ca', 'kubeconfig', 'kubelet', 'renew', 'rotation', 'scan', 'txn']);
  assert.deepEqual(
    readdirSync(NODE).filter((name) => name.endsWith('.ts')),
    [],
    'every file of node/ is in a room',
  );
  const wrong: string[] = [];
  for (const file of files(SRC))
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const deep = deepImport(file, spec);
      if (deep) wrong.push(deep);
    }
  assert.deepEqual(wrong, []);
});

test('the door rule can fail: a deep import from another layer or another room is found, one inside the room is not', () => {
  assert.match(deepImport(join(SRC, 'cluster/rollout.ts'), '../node/scan/scan.js') ?? '', /past the door of node\/scan\//);
  assert.match(deepImport(join(SRC, 'node/renew/plan.ts'), '../scan/result.js') ?? '', /past the door of node\/scan\//);
  assert.equal(deepImport(join(SRC, 'node/scan/scan.ts'), './result.js'), undefined);
  assert.equal(deepImport(join(SRC, 'cluster/rollout.ts'), '../node/scan/index.js'), undefined);
});
