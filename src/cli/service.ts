// What `health`, `restart` and `renew --restart` share: a live node, its services, the restart options.
import type { Host } from '../hosts/host.js';
import { KpkiError } from '../node/errors.js';
import { COMPONENTS, Component } from '../service/health.js';
import { STRATEGIES, StrategyName } from '../service/strategies.js';
import { durationFlag } from './flags.js';

export function requireLiveNode(host: Host, what: string): void {
  if (!host.live) throw new KpkiError(`${what} needs the running node: run it on the node itself, without --root`, { exitCode: 2 });
}

export function componentsFlag(names: string[]): Component[] {
  for (const name of names) {
    if (!(COMPONENTS as readonly string[]).includes(name)) throw new KpkiError(`unknown component "${name}" (expected ${COMPONENTS.join(', ')})`, { exitCode: 2 });
  }
  return names as Component[];
}

export function strategyFlag(value: string): StrategyName {
  if (!(STRATEGIES as readonly string[]).includes(value)) throw new KpkiError(`--strategy must be one of ${STRATEGIES.join(', ')}`, { exitCode: 2 });
  return value as StrategyName;
}

export function timeoutFlag(value: string): number {
  return durationFlag('--timeout', value);
}

export const log = (line: string) => process.stdout.write(`${line}\n`);
