// A hint's remedies name kpki commands as data (errors.ts remedy(say, ...command)); here every remedy written in src/
// is checked against the real command tree: its words lead to a command, and each flag is one that command (or kpki
// itself) takes. A hint cannot drift from the CLI it points at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { COMMANDS } from '../../src/cli/commands.js';
import { renderHint, remedy } from '../../src/errors.js';

const SRC = resolve(import.meta.dirname, '..', '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/** Every remedy(...) call in src/: where, and its arguments after the words (string literals, or null for an expression). */
export function remediesIn(text: string): (string | null)[][] {
  const calls: (string | null)[][] = [];
  for (const m of text.matchAll(/\bremedy\(/g)) {
    // the arguments up to the closing parenthesis, split at top-level commas
    let depth = 0;
    let i = m.index + m[0].length;
    let current = '';
    const args: string[] = [];
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === "'" || c === '"' || c === '`') {
        const end = text.indexOf(c, i + 1);
        current += text.slice(i, end + 1);
        i = end;
        continue;
      }
      if (c === '(' || c === '[' || c === '{') depth++;
      if (c === ')' || c === ']' || c === '}') {
        if (depth === 0) break;
        depth--;
      }
      if (c === ',' && depth === 0) {
        args.push(current.trim());
        current = '';
      } else current += c;
    }
    if (current.trim()) args.push(current.trim());
    calls.push(args.slice(1).map((a) => (/^'[^']*'$/.test(a) ? a.slice(1, -1) : null)));
  }
  return calls;
}

const GLOBAL_FLAGS = [...readFileSync(join(SRC, 'cli/program.ts'), 'utf8').matchAll(/\.option\('(?:-\w, )?(--[a-z-]+)/g)].map((m) => m[1]);

async function commandAt(words: string[]): Promise<{ command?: Command; rest: string[] }> {
  const top = COMMANDS.find((c) => c.name === words[0]);
  if (!top) return { rest: words };
  let command = await top.load();
  let at = 1;
  for (; at < words.length; at++) {
    const sub = command.commands.find((c) => c.name() === words[at]);
    if (!sub) break;
    command = sub;
  }
  return { command, rest: words.slice(at) };
}

test('every remedy in src/ names a kpki command and flags that command takes', async () => {
  const wrong: string[] = [];
  let seen = 0;
  for (const file of files(SRC)) {
    if (file.endsWith('errors.ts')) continue;
    for (const args of remediesIn(readFileSync(file, 'utf8'))) {
      seen++;
      const where = `${relative(SRC, file)}: remedy(…, ${args.map((a) => a ?? '<expr>').join(', ')})`;
      const words = args.filter((a): a is string => a !== null && /^[a-z][a-z-]*$/.test(a));
      const { command } = await commandAt(words);
      if (!command) {
        wrong.push(`${where}: no command "${words[0]}"`);
        continue;
      }
      const flags = command.options.map((o) => o.long);
      for (const flag of args.filter((a): a is string => a?.startsWith('--') ?? false))
        if (!flags.includes(flag) && !GLOBAL_FLAGS.includes(flag)) wrong.push(`${where}: ${command.name()} takes no ${flag}`);
    }
  }
  assert.ok(seen >= 8, `found only ${seen} remedies`);
  assert.deepEqual(wrong, []);
});

test('the check can fail: a command that does not exist and a flag a command does not take are found', async () => {
  assert.deepEqual(remediesIn(`x(remedy('do it', 'renew', name, '--key-algorithm', alg))`), [['renew', null, '--key-algorithm', null]]);
  assert.equal((await commandAt(['renuw'])).command, undefined);
  const { command } = await commandAt(['kubeconfig', 'update']);
  assert.equal(command?.name(), 'update');
  assert.equal(
    command?.options.some((o) => o.long === '--key-algorithm'),
    false,
  );
});

test('a hint reads its words, then each remedy with its command', () => {
  assert.equal(
    renderHint('nothing was restored', [remedy('pick another backup', 'backups'), remedy('or restore one', 'restore', 'ID')]),
    'nothing was restored; pick another backup: `kpki backups`; or restore one: `kpki restore ID`',
  );
  assert.equal(renderHint(undefined, []), undefined);
});
