// Reads `--name=value` / `--name value` flags the way the Kubernetes components accept them (last one wins).
export class Flags {
  private readonly values = new Map<string, string>();

  constructor(argv: string[]) {
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i];
      if (!arg.startsWith('--')) continue;
      const eq = arg.indexOf('=');
      if (eq > 0) this.values.set(arg.slice(2, eq), arg.slice(eq + 1));
      else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) this.values.set(arg.slice(2), argv[++i]);
      else this.values.set(arg.slice(2), 'true');
    }
  }

  get(name: string, fallback?: string): string | undefined {
    return this.values.get(name) ?? fallback;
  }

  require(name: string): string {
    const value = this.values.get(name);
    if (value === undefined) throw new Error(`flag --${name} is required`);
    return value;
  }
}

/** "https://127.0.0.11:2379" → { host, port }. */
export function hostPort(url: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(url.includes('://') ? url : `https://${url}`);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || defaultPort) };
}

export function log(component: string, message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${component}: ${message}\n`);
}
