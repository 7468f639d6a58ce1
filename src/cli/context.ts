// What every command shares: the global flags, the Host they select, and how errors end the process.
import { Command } from 'commander';
import { LocalHost } from '../hosts/local.js';
import { KpkiError, renderHint, UsageError } from '../errors.js';
import type { Host } from '../hosts/host.js';
import { homedir } from 'node:os';
import { posix } from 'node:path';
import type { ScanOptions } from '../node/scan/index.js';
import { loadInventory } from '../cluster/inventory/load.js';
import { InventoryNode, selectNodes } from '../cluster/inventory/model.js';

export interface GlobalOptions {
  root: string;
  certDir?: string;
  kubeconfigDir?: string;
  config?: string;
  inventory?: string;
  nodes?: string;
  acceptNewHostKeys?: boolean;
  /** --concurrency, checked at parse time (a whole number, 1 or more). */
  concurrency: number;
  knownHosts?: string;
  sshConfig?: string;
}

/** The global options, each taken by name and type from what commander parsed (no cast of the whole bag). */
export function globalsOf(command: Command): GlobalOptions {
  const o = command.optsWithGlobals();
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    root: text(o.root) ?? '/',
    certDir: text(o.certDir),
    kubeconfigDir: text(o.kubeconfigDir),
    config: text(o.config),
    inventory: text(o.inventory),
    nodes: text(o.nodes),
    acceptNewHostKeys: o.acceptNewHostKeys === true,
    concurrency: typeof o.concurrency === 'number' ? o.concurrency : 10,
    knownHosts: text(o.knownHosts),
    sshConfig: text(o.sshConfig),
  };
}

export function hostOf(globals: GlobalOptions): LocalHost {
  return new LocalHost(globals.root);
}

/** --inventory in any format, limited by --nodes; what the reader left out is said on stderr. */
export function inventoryNodesOf(globals: GlobalOptions): InventoryNode[] {
  const inventory = loadInventory(globals.inventory!, { knownHosts: globals.knownHosts, sshConfig: globals.sshConfig });
  for (const note of inventory.notes) process.stderr.write(`kpki: ${globals.inventory}: ${note}\n`);
  return selectNodes(inventory, globals.nodes);
}

/** How -i reaches the nodes: host keys as the flags say, 15 s to connect, --concurrency nodes at once. */
export function clusterConnectOptions(globals: GlobalOptions): { acceptNewHostKeys: boolean; timeoutMs: number; concurrency: number } {
  return {
    acceptNewHostKeys: Boolean(globals.acceptNewHostKeys),
    timeoutMs: 15_000,
    concurrency: globals.concurrency,
  };
}

export function scanOptionsOf(globals: GlobalOptions): ScanOptions {
  return { certDir: globals.certDir, kubeconfigDir: globals.kubeconfigDir, config: globals.config };
}

/** Renders an error once, with its file and hint, and returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof KpkiError) {
    process.stderr.write(`kpki: ${err.message}\n`);
    if (err.options.path && !err.message.includes(err.options.path)) process.stderr.write(`file: ${err.options.path}\n`);
    const hint = renderHint(err.options.hint, err.options.remedies);
    if (hint) process.stderr.write(`hint: ${hint}\n`);
    if (process.env.KPKI_DEBUG && err.cause) process.stderr.write(`cause: ${(err.cause as Error)?.stack ?? String(err.cause)}\n`);
    return err.exitCode;
  }
  const e = err as NodeJS.ErrnoException;
  process.stderr.write(`kpki: ${e?.message ?? String(err)}\n`);
  if (process.env.KPKI_DEBUG) process.stderr.write(`${e?.stack}\n`);
  return 1;
}

/** Wraps a command action: its returned number is the exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    let code: number;
    try {
      code = await fn(...args);
    } catch (err) {
      code = reportError(err);
    }
    process.exitCode = code;
  };
}

/**
 * Asks before a change unless --yes: undefined means go ahead, a number is the exit code to return instead
 * (2: no terminal to ask on, 1: the user said no). Nothing is changed in either case.
 */
export async function confirm(yes: boolean | undefined, question: string): Promise<number | undefined> {
  if (yes) return undefined;
  if (!process.stdin.isTTY) {
    process.stderr.write('kpki: not a terminal, so not asking: nothing was changed. Add --yes to apply this plan.\n');
    return 2;
  }
  const { createInterface } = await import('node:readline/promises'); // only when asking, not on every check
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  if (/^y(es)?$/i.test(answer.trim())) return undefined;
  process.stdout.write('Nothing was changed.\n');
  return 1;
}

/** Restarting and health checks act on the running node, not on a disk mounted elsewhere. */
export function requireLiveNode(host: Host, what: string): void {
  if (!host.live) throw new UsageError(`${what} needs the running node: run it on the node itself, without --root`);
}

export const log = (line: string) => process.stdout.write(`${line}\n`);

/** The user's kubeconfig: the home of whoever runs kpki only when kpki runs on the node itself; root's on a disk. */
export function defaultUserKubeconfig(host: Host): string {
  return host instanceof LocalHost && host.live ? posix.join(homedir(), '.kube', 'config') : '/root/.kube/config';
}
