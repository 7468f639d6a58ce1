// The kpki executable (dist/kpki.js, npm's bin for kpki and kubectl-kpki).
import module from 'node:module';
import { interpreterOnly, isOneNodeCheck } from './short-run.js';
import { roomForIoBesideKeys } from './threadpool.js';

roomForIoBesideKeys();
if (isOneNodeCheck(process.argv.slice(2))) interpreterOnly();
// Node 22+ keeps the compiled code of kpki's modules between runs (monitoring runs check every few seconds); on
// Node 20 there is no such cache and this does nothing.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
const { run } = await import('./program.js');
await run(process.argv);
