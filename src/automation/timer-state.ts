// What the renewal timer's last run did on this node (/var/lib/kpki/timer-state.json): written by `kpki timer run`,
// read by `kpki timer status` and the exporter, so that somebody sees whether it ran.
import type { Host } from '../hosts/host.js';
import { STATE_DIR } from '../node/txn/index.js';

/** What the renewal timer's last run did on a node (for `timer status` and the exporter). */
export interface TimerState {
  lastRunAt?: string;
  lastSuccessAt?: string;
  lastResult?: 'success' | 'failure' | 'nothing-to-do' | 'skipped';
  lastDetail?: string;
}

export const TIMER_STATE = `${STATE_DIR}/timer-state.json`;

export async function readTimerState(host: Host): Promise<TimerState | undefined> {
  try {
    if (!(await host.stat(TIMER_STATE))) return undefined;
    return JSON.parse((await host.readFile(TIMER_STATE)).toString('utf8'));
  } catch {
    return undefined;
  }
}

export async function writeTimerState(host: Host, state: TimerState): Promise<void> {
  await host.mkdirp(STATE_DIR, 0o700);
  await host.writeFileAtomic(TIMER_STATE, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
}
