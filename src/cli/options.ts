// The options many commands share, declared once: their spelling, their choices and their checks live here, and each
// command says only what the option means for it. Choices are checked by commander at parse time (a wrong value is a
// usage error, exit 2, before anything runs).
import { Option } from 'commander';
import { STRATEGIES } from '../service/components.js';

/** -y, --yes: apply without asking. */
export const yesOption = (help = 'apply without asking') => new Option('-y, --yes', help);

/** --dry-run: what the command would do, nothing changed. */
export const dryRunOption = (help: string) => new Option('--dry-run', help);

/** -o, --output <format> with the formats this command prints, the first being the default when `defaulted`. */
export function outputOption(formats: readonly string[], help: string, defaulted = true): Option {
  const option = new Option('-o, --output <format>', help).choices(formats);
  return defaulted ? option.default(formats[0]) : option;
}

/** --strategy <name>: how components restart, from the one list of strategies. `when` says when it applies. */
export function strategyOption(when?: string): Option {
  return new Option('--strategy <name>', `${when ? `${when}: ` : ''}how components restart`).choices(STRATEGIES).default('auto');
}
