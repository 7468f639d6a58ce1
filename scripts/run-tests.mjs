// Runs every test/**/*.test.ts with node's test runner (Node 20 has no glob support for --test).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return find(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}
const only = process.argv.slice(2);
// KPKI_TESTS=quick: everything but the lab suites (what CI runs on the Node.js lines besides the one it runs in full)
const quick = process.env.KPKI_TESTS === 'quick';
// the lab suites take longest: they start first, the rest runs beside them (--test-concurrency=2)
const longestFirst = (a, b) => Number(b.includes('/lab/')) - Number(a.includes('/lab/')) || a.localeCompare(b);
const files = (only.length ? only : find('test')).filter((f) => !quick || !f.includes('/lab/')).sort(longestFirst);
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
