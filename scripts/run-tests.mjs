// Runs every test/**/*.test.ts with node's test runner (Node 20 has no glob support for --test).
//
// Two lanes side by side, one file at a time in each: the shared 3 + 1 lab's file (test/lab/cluster.test.ts, the
// longest by far) in one, every other file in the other (measured 2026-12-07: 873 s against 692 s with the Kubespray
// lab's file in the first lane, about 780 s each with it in the second). Not one runner with --test-concurrency=2: node --test sorts the
// files it is given, so the lab file started only after every e2e and integration file, and the suite ran ~5 min longer.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return find(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

// Each lane's output goes through as it comes and is kept: the spec reporter's "failing tests" section of every lane
// is printed again at the very end, where a CI log cut to its tail still shows what failed.
const failingSections = [];
const firstLines = (text, n) => text.split('\n').slice(0, n).join('\n');

function runner(files, concurrency) {
  const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files];
  const child = spawn(process.execPath, args, { stdio: ['inherit', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    output += chunk;
  });
  const stop = (signal) => child.kill(signal);
  process.on('SIGINT', stop).on('SIGTERM', stop);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      const at = output.lastIndexOf('✖ failing tests:');
      if (at >= 0)
        failingSections.push({ lane: files.length === 1 ? files[0] : `${files.length} files`, text: firstLines(output.slice(at), 300) });
      resolve(code ?? (signal ? 1 : 0));
    }),
  );
}

const only = process.argv.slice(2);
// KPKI_TESTS=quick: everything but the lab suites (what CI runs on the Node.js lines besides the one it runs in full)
const quick = process.env.KPKI_TESTS === 'quick';
const files = (only.length ? only : find('test')).filter((f) => !quick || !f.includes('/lab/'));
const sharedLab = files.filter((f) => f.endsWith('lab/cluster.test.ts'));
const rest = files.filter((f) => !sharedLab.includes(f));
const lanes = sharedLab.length && rest.length ? [runner(sharedLab, 1), runner(rest, 1)] : [runner(files, 2)];
const codes = await Promise.all(lanes);
for (const { lane, text } of failingSections) process.stdout.write(`\n=== again, the failures in the lane of ${lane} ===\n${text}\n`);
process.exit(codes.find((c) => c !== 0) ?? 0);
