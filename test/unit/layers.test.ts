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
