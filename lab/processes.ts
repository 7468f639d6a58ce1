// Lab processes by PID: find a node's processes through /proc, stop them by PID (TERM, then KILL), never by name.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Every process below pid (not pid itself), depth first. */
export function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  for (const child of childrenOf(pid)) out.push(child, ...descendantsOf(child));
  return out;
}

/** The host PID of a process known inside a node's PID namespace by nsPid. */
export function hostPidOf(nodeInitPid: number, nsPid: number): number | undefined {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${nodeInitPid}/ns/pid`);
  } catch {
    return undefined;
  }
  for (const pid of [nodeInitPid, ...descendantsOf(nodeInitPid)]) {
    try {
      const nspids =
        /^NSpid:\s+(.*)$/m
          .exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
          .split(/\s+/)
          .map(Number) ?? [];
      if (nspids[nspids.length - 1] === nsPid && readlinkSync(`/proc/${pid}/ns/pid`) === ns) return pid;
    } catch {
      /* gone */
    }
  }
  return undefined;
}

export async function waitUntilGone(pids: number[], timeoutMs: number): Promise<number[]> {
  const end = Date.now() + timeoutMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    alive = alive.filter(isAlive);
  }
  return alive;
}

/** SIGTERM to all at once, SIGKILL to whatever is left after graceMs. */
export async function stopPids(pids: number[], graceMs: number): Promise<void> {
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  };
  pids.forEach((pid) => signal(pid, 'SIGTERM'));
  const left = await waitUntilGone(pids, graceMs);
  left.forEach((pid) => signal(pid, 'SIGKILL'));
  await waitUntilGone(left, 5000);
}

/** Host processes whose command line carries the lab's id (what a crashed run may have left). */
export function processesOfLab(labId: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
    .map(Number)
    .filter((pid) => cmdline(pid).includes(`--lab-id ${labId}`));
}
