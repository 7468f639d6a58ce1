// npm run build:sea: kpki as one executable that needs no Node.js on the node (Node's single-executable applications:
// a CommonJS bundle, its blob injected with postject into a copy of the node binary that builds it). It runs check,
// renew, restart, recover, timer, exporter and the rest, on the node itself and over SSH (--inventory): ssh2 is bundled
// without its optional native parts (sshcrypto.node, cpu-features), which it loads in try/catch and replaces with
// node:crypto. Every command works from it.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const out = process.env.KPKI_SEA_OUT ?? 'dist/kpki-linux-x64';
const node = process.env.KPKI_SEA_NODE ?? process.execPath;
mkdirSync('dist', { recursive: true });
await build({
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  entryPoints: ['src/cli/sea.ts'],
  outfile: 'dist/kpki-sea.cjs',
  external: ['cpu-features', '*.node'],
  logLevel: 'warning',
});
// useCodeCache: V8's compiled code goes into the blob (the node that builds it must be the one that runs it: it is)
writeFileSync(
  'dist/sea-config.json',
  JSON.stringify({ main: 'dist/kpki-sea.cjs', output: 'dist/kpki-sea.blob', disableExperimentalSEAWarning: true, useCodeCache: true }),
);
execFileSync(node, ['--experimental-sea-config', 'dist/sea-config.json'], { stdio: 'inherit' });
rmSync(out, { force: true });
copyFileSync(node, out);
execFileSync(
  process.execPath,
  [
    join('node_modules', 'postject', 'dist', 'cli.js'),
    out,
    'NODE_SEA_BLOB',
    'dist/kpki-sea.blob',
    '--sentinel-fuse',
    'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
chmodSync(out, 0o755);
rmSync('dist/kpki-sea.blob', { force: true });
console.log(`built ${out}`);
