// Bundles the CLI into one file so start-up stays fast (no module resolution at run time).
import { build } from 'esbuild';
import { chmodSync, rmSync } from 'node:fs';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // maps beside the files, not linked from them: a linked map costs every start (Node looks it up), nobody reads it there
  sourcemap: 'external',
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __kpkiCreateRequire } from 'node:module';\nconst require = __kpkiCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
  // yaml's ES module build: only the parts kpki uses are bundled, and nothing runs at load (its CommonJS build
  // evaluates every one of its modules when the first is required)
  alias: { yaml: './node_modules/yaml/browser/dist/index.js' },
};
// ssh2 is loaded from node_modules only by the commands that need it (it has optional native parts): every other
// command starts without it.
// Split into chunks loaded on demand: `kpki check` loads the check command's code, not renewal, SSH, metrics or the lab.
rmSync('dist/chunks', { recursive: true, force: true });
await build({
  ...common,
  entryPoints: { kpki: 'src/cli/main.ts' },
  outdir: 'dist',
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  external: ['ssh2'],
});
// The lab's stand-in processes (kubelet, kube-apiserver, ...), started many times: bundled for the same reason.
await build({ ...common, entryPoints: ['lab/standins/main.ts'], outfile: 'dist/lab-standins.js' });
chmodSync('dist/kpki.js', 0o755);
