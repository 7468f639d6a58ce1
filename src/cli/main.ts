// The kpki executable (dist/kpki.js, npm's bin for kpki and kubectl-kpki).
import { run } from './program.js';

await run(process.argv);
