// Bundles the CLI into one file so start-up stays fast (no module resolution at run time).
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';

await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/kpki.js',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __kpkiCreateRequire } from 'node:module';\nconst require = __kpkiCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
chmodSync('dist/kpki.js', 0o755);
