// What the adversarial tests share: a refusal judged by its exit code, its message and a tree hashed before and after,
// and a kpki run that must end on its own (a hang is a failure of its own, not a slow test).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hashTree, KPKI, RunResult } from '../helpers/kpki.js';

/** kpki, killed after `timeoutMs`: a run that did not end is reported as such (status 'hung'). */
export function kpkiBounded(args: string[], timeoutMs = 30_000): RunResult & { hung: boolean } {
  const r = spawnSync(process.execPath, [KPKI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
  });
  return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr, hung: r.signal === 'SIGKILL' };
}

/** A refusal: the exit code asked, one message matching `mentions`, and every tree in `roots` byte for byte as it was. */
export function refusedLeavingAsItWas(roots: string[], args: string[], mentions: RegExp, status: number): RunResult {
  const before = roots.map((r) => hashTree(r));
  const r = kpkiBounded(args);
  assert.equal(r.hung, false, `kpki ${args.join(' ')} did not end within 30 s`);
  assert.equal(r.status, status, `exit ${r.status}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, mentions);
  assert.deepEqual(
    roots.map((r) => hashTree(r)),
    before,
    'a tree changed',
  );
  return r;
}
