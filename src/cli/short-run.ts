// A one-node `kpki check` runs for about a tenth of a second, several times a minute on every node. V8's compilers
// beyond the bytecode interpreter (Sparkplug, Maglev, TurboFan) cannot pay back in that time what they cost: about
// 9 MB of resident memory on Node 24, against check's bound of 60 MB (issue 18). Flags set at run time steer later
// compilation only, so this runs before any of kpki's modules is loaded: V8 already compiles while they evaluate.
// A wrong guess costs speed, never behaviour.
import { setFlagsFromString } from 'node:v8';

/** `check` on this node (not `check -i`, which talks SSH to many nodes for longer). */
export function isOneNodeCheck(args: string[]): boolean {
  return args.includes('check') && !args.some((a) => a === '-i' || a.startsWith('--inventory'));
}

export function interpreterOnly(): void {
  for (const flag of ['--no-sparkplug', '--no-maglev', '--no-turbofan']) setFlagsFromString(flag);
}
