// kpki check --at / --in: "what will be expired then", judged on a fresh lab tree (leaves for 1 year, CAs for 10).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { buildControlPlaneNode, makeClusterCas } from '../../src/trees/index.js';
import { kpki, removeTree, tempRoot } from '../helpers/kpki.js';

let root = '';
before(async () => {
  root = tempRoot();
  await buildControlPlaneNode(root, await makeClusterCas({}), { nodeName: 'cp1', address: '127.0.0.41' });
});
after(() => removeTree(root));

test('check --in and --at judge the node as on a later date; now it is fine', () => {
  assert.equal(kpki(['--root', root, 'check']).status, 0);
  const soon = kpki(['--root', root, 'check', '--in', '350d']);
  assert.equal(soon.status, 1, soon.stdout);
  assert.match(soon.stderr, /as on \d{4}-/);
  assert.match(soon.stdout, /^apiserver\s.*expiring in \d+d/m);
  const later = kpki(['--root', root, 'check', '--in', '400d', '-o', 'json']);
  assert.equal(later.status, 2);
  const items = JSON.parse(later.stdout).certificates as { name: string; status: string[]; residualTime: number }[];
  assert.deepEqual(items.find((c) => c.name === 'apiserver')!.status, ['expired']);
  assert.ok(items.find((c) => c.name === 'apiserver')!.residualTime < 0);
  const cas = kpki(['--root', root, 'check', '--at', '2040-01-01']);
  assert.equal(cas.status, 2);
  assert.match(cas.stdout, /^ca\s.*expired/m);
  const bad = kpki(['--root', root, 'check', '--at', 'next tuesday']);
  assert.equal(bad.status, 2, 'a usage error exits 2');
  assert.match(bad.stderr, /--at: "next tuesday" is not a date/);
});
