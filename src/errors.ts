// Typed errors: each names the node file and says what to do; the CLI renders them once.

/**
 * A kpki command that helps, as data: what it does in words, and the command's words and flags (placeholders in
 * capitals: ID, NAME). The layers below cli/ say which command, never how it is typed; a test checks that every remedy
 * names a command and flags kpki has.
 */
export interface Remedy {
  say: string;
  command: string[];
}

export const remedy = (say: string, ...command: string[]): Remedy => ({ say, command });

/** A hint as it reads: its words, then each remedy as "what it does: `kpki the command`". */
export function renderHint(hint?: string, remedies: Remedy[] = []): string | undefined {
  const parts = [...(hint ? [hint] : []), ...remedies.map((r) => `${r.say}: \`kpki ${r.command.join(' ')}\``)];
  return parts.length ? parts.join('; ') : undefined;
}

export interface KpkiErrorOptions {
  /** The node file it is about (rendered when the message does not name it already). */
  path?: string;
  /** What to do about it, in words. */
  hint?: string;
  /** The kpki commands that help, rendered after the hint. */
  remedies?: Remedy[];
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
  const hint = renderHint(err.options.hint, err.options.remedies);
  return `${err.message}${file}${hint ? `; hint: ${hint}` : ''}`;
}
