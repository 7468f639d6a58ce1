// Typed errors: each names the node file and says what to do; the CLI renders them once.

export class KpkiError extends Error {
  constructor(
    message: string,
    readonly options: { path?: string; hint?: string; exitCode?: number } = {},
  ) {
    super(message);
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
