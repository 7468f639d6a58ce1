// Typed errors: each names the node file and says what to do; the CLI renders them once.

export interface KpkiErrorOptions {
  /** The node file it is about (rendered when the message does not name it already). */
  path?: string;
  /** What to do about it. */
  hint?: string;
  exitCode?: number;
  /** The error underneath (kept for KPKI_DEBUG). */
  cause?: unknown;
}

export class KpkiError extends Error {
  constructor(
    message: string,
    readonly options: KpkiErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
  get exitCode(): number {
    return this.options.exitCode ?? 1;
  }
}

/** The node could not be read: check exits 3 (UNKNOWN) on it. */
export class NodeReadError extends KpkiError {
  constructor(message: string, path: string, hint?: string) {
    super(message, { path, hint, exitCode: 3 });
  }
}

/** The command line itself is wrong (an unknown flag value, a date that does not exist): always exit 2. */
export class UsageError extends KpkiError {
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: 2 });
  }
}

/** One line for a report (a node's error in a cluster table or JSON): the message, its file and hint when it has them. */
export function describeError(err: unknown): string {
  if (!(err instanceof KpkiError)) return err instanceof Error ? err.message : String(err);
  const file = err.options.path && !err.message.includes(err.options.path) ? ` (${err.options.path})` : '';
  return `${err.message}${file}${err.options.hint ? `; hint: ${err.options.hint}` : ''}`;
}
