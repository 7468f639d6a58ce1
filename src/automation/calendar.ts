// systemd calendar expressions, as systemd itself reads them (`systemd-analyze calendar`): valid or not, the next
// runs, and the longest gap between two runs (the renewal window must outlast a missed run).
import { spawnSync } from 'node:child_process';

export interface CalendarInfo {
  normalized: string;
  next: Date[];
  /** The longest time between two of the next runs. */
  intervalMs: number;
}

/** undefined when systemd-analyze is not on this machine; throws when systemd rejects the expression. */
export function analyzeCalendar(expr: string, iterations = 5): CalendarInfo | undefined {
  const r = spawnSync('systemd-analyze', ['calendar', `--iterations=${iterations}`, expr], {
    encoding: 'utf8',
    env: { ...process.env, TZ: process.env.TZ ?? 'UTC', LC_ALL: 'C' },
  });
  if (r.error) return undefined;
  if (r.status !== 0) throw new Error(`"${expr}" is not a systemd calendar expression: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  const normalized = /Normalized form: (.*)/.exec(r.stdout)?.[1]?.trim() ?? expr;
  const next = [...r.stdout.matchAll(/(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (\S+)/g)].map(
    (m) => new Date(`${m[1].replace(' ', 'T')}${m[2] === 'UTC' ? 'Z' : ''}`),
  );
  let intervalMs = 0;
  for (let i = 1; i < next.length; i++) intervalMs = Math.max(intervalMs, next[i].getTime() - next[i - 1].getTime());
  return { normalized, next, intervalMs };
}
