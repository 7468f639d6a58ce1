// The renewal timer's systemd units: a oneshot service that runs `kpki timer run` (renew what expires within the
// window, restart what must be restarted, one control-plane node of the cluster at a time) and a timer that fires it
// (Persistent: a run missed while the node was off happens at the next boot).
import { posix } from 'node:path';
import type { FileWrite } from '../node/renew/index.js';

export const UNIT_DIR = '/etc/systemd/system';
export const SERVICE_UNIT = 'kpki-renew.service';
export const TIMER_UNIT = 'kpki-renew.timer';
export const DEFAULT_BINARY = '/usr/local/bin/kpki';
export const DEFAULT_CALENDAR = 'Mon *-*-* 03:00:00';

export interface TimerOptions {
  /** The kpki executable on the node (the standalone binary); may be "NODE SCRIPT" to run kpki.js with Node. */
  binary: string;
  onCalendar: string;
  /** systemd duration syntax of the window, e.g. "30d". */
  renewWithin: string;
  /** How long a run waits for the cluster lock (another node renewing) before it leaves it to the next run. */
  maxWait: string;
  /** The per-node slot spacing used only when etcd cannot be reached. */
  spacing: string;
  /** Whole run, including the wait: systemd stops it after this. */
  timeoutStart: string;
}

export function renderService(o: TimerOptions): string {
  return `# Written by kpki timer install: remove with kpki timer remove.
[Unit]
Description=kpki: renew Kubernetes certificates before they expire (one control-plane node of the cluster at a time)
Documentation=https://github.com/kpki/kpki#kpki-timer
After=network-online.target kubelet.service
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=${o.binary} timer run --renew-within ${o.renewWithin} --max-wait ${o.maxWait} --spacing ${o.spacing}
TimeoutStartSec=${o.timeoutStart}
Nice=10
StandardOutput=journal
StandardError=journal
SyslogIdentifier=kpki
`;
}

export function renderTimer(o: TimerOptions): string {
  return `# Written by kpki timer install: remove with kpki timer remove.
[Unit]
Description=kpki: certificate renewal check (${o.onCalendar})
Documentation=https://github.com/kpki/kpki#kpki-timer

[Timer]
OnCalendar=${o.onCalendar}
Persistent=true
AccuracySec=1min
Unit=${SERVICE_UNIT}

[Install]
WantedBy=timers.target
`;
}

export function timerWrites(o: TimerOptions): FileWrite[] {
  return [
    { kind: 'file', path: posix.join(UNIT_DIR, SERVICE_UNIT), data: renderService(o), mode: 0o644, entry: SERVICE_UNIT, format: 'text' },
    { kind: 'file', path: posix.join(UNIT_DIR, TIMER_UNIT), data: renderTimer(o), mode: 0o644, entry: TIMER_UNIT, format: 'text' },
  ];
}
