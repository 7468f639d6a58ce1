// Which runs of kpki do without V8's optimizing compilers (src/cli/short-run.ts): a one-node check only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOneNodeCheck } from '../../src/cli/short-run.js';

test('a one-node check runs with the interpreter only; check -i and every other command keep the optimizing compilers', () => {
  for (const args of [['check'], ['--root', '/mnt/node', 'check', '-o', 'json'], ['check', '--warn', '60d']])
    assert.equal(isOneNodeCheck(args), true, args.join(' '));
  for (const args of [
    ['check', '-i', 'inventory.yaml'],
    ['-i', 'inventory.yaml', 'check'],
    ['--inventory=inventory.yaml', 'check'],
    ['renew', 'all'],
    ['exporter', '--listen', '127.0.0.1:9101'],
    [],
  ])
    assert.equal(isOneNodeCheck(args), false, args.join(' '));
});
