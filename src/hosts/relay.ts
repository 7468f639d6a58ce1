// A TCP connection from a node whose sshd refuses forwarding (AllowTcpForwarding no, or PermitOpen limited): a relay
// run on the node through exec. With python3, one relay per node carries every connection (relay-mux.ts: one SSH
// session, whatever the number of probes); with bash only (Flatcar-like nodes), a bash relay per connection over its
// own session (/dev/tcp), each waiting for a free session (ssh-sessions.ts). kpki keeps doing the TLS with the
// credentials it holds, exactly as over a forwarded channel; a relay only moves bytes, runs as the login user (no
// sudo) and ends when either side closes. A node with neither gets one message naming what to change.
import type { Duplex } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import type { ExecResult } from './host.js';
import { MUX_COMMAND } from './relay-mux.js';
import { closeChannel, type Opened } from './ssh-sessions.js';

const MARKER = 'kpki-relay-connected';

/** POSIX shell quoting for one word. */
const quote = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

// A connect bash cannot time out (a port whose backlog is full drops SYNs: connect waits two minutes): a guard kills
// the relay if it is not connected within $3 seconds, so no session stays behind (sshd keeps a session whose program
// runs, even after kpki closed its channel). The guard holds none of the session's descriptors, and is reaped before
// the two copies start, so that `wait -n` waits for a copy. Both copies run in the background; the first to end
// (either side closed) ends the other.
const BASH = [
  'me=$$',
  '(sleep "$3"; kill "$me") </dev/null >/dev/null 2>&1 & guard=$!',
  'exec 3<>"/dev/tcp/$1/$2" || exit 111',
  'kill $guard 2>/dev/null; wait $guard 2>/dev/null',
  `echo ${MARKER} >&2`,
  'cat <&3 & r=$!',
  'cat <&0 >&3 & w=$!',
  'exec 0<&- 1>&-',
  'wait -n',
  'kill $r $w 2>/dev/null',
  'wait',
].join('\n');

export type RelayProgram =
  /** One relay for the whole connection (relay-mux.ts). */
  | { name: 'python3'; kind: 'mux'; command: string }
  /** One relay per TCP connection. */
  | { name: 'bash'; kind: 'each'; command: (address: string, port: number, timeoutMs: number) => string };

const RELAYS: RelayProgram[] = [
  { name: 'python3', kind: 'mux', command: MUX_COMMAND },
  { name: 'bash', kind: 'each', command: (a, p, ms) => `bash -c ${quote(BASH)} kpki-relay ${quote(a)} ${p} ${Math.ceil(ms / 1000) + 1}` },
];

/** What each relay program must run to count as there. */
const TRIAL: Record<RelayProgram['name'], string> = { python3: 'import errno, os, select, socket, struct, sys', bash: 'exec 3>&-' };

/** The first relay program the node has (test hook KPKI_TEST_RELAYS="bash" limits the candidates). */
export async function findRelay(run: (command: string) => Promise<ExecResult>): Promise<RelayProgram | undefined> {
  const allowed = process.env.KPKI_TEST_RELAYS?.split(',');
  const candidates = RELAYS.filter((r) => !allowed || allowed.includes(r.name));
  if (candidates.length === 0) return undefined;
  // (each is started once: a python3 that is there but cannot run, or lacks the modules the relay imports, is none)
  const tries = candidates.map((r) => `${r.name} -c ${quote(TRIAL[r.name])} >/dev/null 2>&1 && echo ${r.name};`).join(' ');
  const found = await run(tries);
  const names = found.stdout.split('\n').map((l) => l.trim());
  return candidates.find((r) => names.includes(r.name));
}

/**
 * A bash relay's channel, once it says it is connected; a refused or unreachable port rejects as a direct dial
 * would. `timeoutMs` counts from the session's start: the wait for a free session is not the component's time.
 */
export function relayConnected(
  { channel: stream, closed }: Opened<ClientChannel>,
  address: string,
  port: number,
  node: string,
  timeoutMs: number,
): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    let settled = false;
    const fail = (message: string, code?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      closeChannel(stream);
      reject(Object.assign(new Error(`${address}:${port} from ${node} (through bash): ${message}`), { code }));
    };
    const timer = setTimeout(() => fail(`no connection within ${timeoutMs} ms`, 'ETIMEDOUT'), timeoutMs);
    stream.stderr.on('data', (d: Buffer) => {
      if (settled) return; // (later diagnostics are dropped)
      stderr += d;
      if (!stderr.includes(MARKER)) return;
      settled = true;
      clearTimeout(timer);
      resolve(stream);
    });
    // the relay ended: what it said on stderr (buffered until read) tells why
    const ended = () => {
      const reason =
        stderr
          .replace(/^kpki-relay: (line \d+: )?/m, '')
          .trim()
          .split('\n')
          .pop() || 'the relay ended before connecting';
      fail(reason, /refused/i.test(reason) ? 'ECONNREFUSED' : undefined);
    };
    stream.on('exit', () => setImmediate(ended));
    void closed.then(() => setImmediate(ended));
  });
}
