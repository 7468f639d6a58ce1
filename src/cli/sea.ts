// The standalone executable's entry (CommonJS, as Node's single-executable applications require): the same program.
import { run } from './program.js';
import { roomForIoBesideKeys } from './threadpool.js';

roomForIoBesideKeys();
run(process.argv).catch((err: unknown) => {
  process.stderr.write(`kpki: ${(err as Error).message}\n`);
  process.exit(1);
});
