// Whether this kpki is the standalone executable (Node's single-executable application) rather than dist/kpki.js.
import { createRequire } from 'node:module';

export function isStandalone(): boolean {
  try {
    const require = createRequire(`${process.cwd()}/`);
    return Boolean((require('node:sea') as { isSea?: () => boolean }).isSea?.());
  } catch {
    return false;
  }
}
