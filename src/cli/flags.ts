// Flags as typed by operators, checked once: durations, dates, validity. Anything that is not one is a usage error
// (exit 2, whatever the command's other exit codes mean).
import { UsageError } from '../errors.js';
import { COMPONENTS, Component, STRATEGIES, StrategyName } from '../service/components.js';
import { parseDuration } from '../util/duration.js';

/** The latest instant an X.509 certificate can encode (GeneralizedTime 99991231235959Z). */
export const LATEST_ENCODABLE = Date.UTC(9999, 11, 31, 23, 59, 59);

export function durationFlag(flag: string, value: string): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
  // a duration that reaches past what a date can hold is a typo, not a plan
  if (!Number.isFinite(ms) || Date.now() + ms > LATEST_ENCODABLE) throw new UsageError(`${flag}: "${value}" reaches past the year 9999`);
  return ms;
}

const DAY_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** 2027-06-01 (midnight UTC) or a full ISO time with its zone; a day that does not exist is refused, not rolled over. */
export function dateFlag(flag: string, value: string): Date {
  const m = DAY_ONLY.exec(value) ?? DATE_TIME.exec(value);
  const date = m ? new Date(DAY_ONLY.test(value) ? `${value}T00:00:00Z` : value) : new Date(NaN);
  const [year, month, day] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  const real = m && month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (!real || Number.isNaN(date.getTime())) throw new UsageError(`${flag}: "${value}" is not a date (2027-06-01 or 2027-06-01T12:00:00Z)`);
  return date;
}

export function componentsFlag(names: string[]): Component[] {
  for (const name of names) {
    if (!(COMPONENTS as readonly string[]).includes(name))
      throw new UsageError(`unknown component "${name}" (expected ${COMPONENTS.join(', ')})`);
  }
  return names as Component[];
}

export function strategyFlag(value: string): StrategyName {
  if (!(STRATEGIES as readonly string[]).includes(value)) throw new UsageError(`--strategy must be one of ${STRATEGIES.join(', ')}`);
  return value as StrategyName;
}

export function timeoutFlag(value: string): number {
  return durationFlag('--timeout', value);
}
