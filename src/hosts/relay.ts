// A TCP connection from a node whose sshd refuses forwarding (AllowTcpForwarding no, or PermitOpen limited): a small
// byte relay run on the node through exec (python3, else bash's /dev/tcp), its stdin and stdout are the connection.
// kpki keeps doing the TLS with the credentials it holds, exactly as over a forwarded channel; the relay only moves
// bytes, runs as the login user (no sudo) and ends when either side closes.
import type { Duplex } from 'node:stream';
import type { Client } from 'ssh2';
import type { ExecResult } from './host.js';

const MARKER = 'kpki-relay-connected';
const RELAY_CONNECT_TIMEOUT_MS = 10_000;

/** POSIX shell quoting for one word. */
const quote = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

// connects (5 s), says so on stderr, then copies both ways until either side ends
const PYTHON = [
  'import os, select, socket, sys',
  'try:',
  '    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)',
  'except OSError as e:',
  '    sys.stderr.write("kpki-relay: %s\\n" % e)',
  '    sys.exit(111)',
  's.settimeout(None)',
  `sys.stderr.write("${MARKER}\\n")`,
  'sys.stderr.flush()',
  'i, o = sys.stdin.fileno(), sys.stdout.fileno()',
  'while True:',
  '    ready = select.select([i, s], [], [])[0]',
  '    if i in ready:',
  '        d = os.read(i, 65536)',
  '        if not d:',
  '            break',
  '        s.sendall(d)',
  '    if s in ready:',
  '        d = s.recv(65536)',
  '        if not d:',
  '            break',
  '        while d:',
  '            d = d[os.write(o, d):]',
].join('\n');

// both copies run in the background; the first to end (either side closed) ends the other
const BASH = [
  'exec 3<>"/dev/tcp/$1/$2" || exit 111',
  `echo ${MARKER} >&2`,
  'cat <&3 & r=$!',
  'cat <&0 >&3 & w=$!',
  'exec 0<&- 1>&-',
  'wait -n',
  'kill $r $w 2>/dev/null',
  'wait',
].join('\n');

export interface RelayProgram {
  name: string;
  command(address: string, port: number): string;
}

const RELAYS: RelayProgram[] = [
  { name: 'python3', command: (a, p) => `python3 -c ${quote(PYTHON)} ${quote(a)} ${p}` },
  { name: 'bash', command: (a, p) => `bash -c ${quote(BASH)} kpki-relay ${quote(a)} ${p}` },
];

/** The first relay program the node has (test hook KPKI_TEST_RELAYS="bash" limits the candidates). */
export async function findRelay(run: (command: string) => Promise<ExecResult>): Promise<RelayProgram | undefined> {
  const allowed = process.env.KPKI_TEST_RELAYS?.split(',');
  const candidates = RELAYS.filter((r) => !allowed || allowed.includes(r.name));
  if (candidates.length === 0) return undefined;
  const found = await run(`for p in ${candidates.map((r) => r.name).join(' ')}; do command -v "$p" >/dev/null 2>&1 && echo "$p"; done`);
  const names = found.stdout.split('\n').map((l) => l.trim());
  return candidates.find((r) => names.includes(r.name));
}

/** Starts the relay and resolves once it is connected; a refused or unreachable port rejects as a direct dial would. */
export function openRelay(client: Client, program: RelayProgram, address: string, port: number, node: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    client.exec(program.command(address, port), (err, stream) => {
      if (err) return reject(new Error(`${address}:${port} from ${node}: cannot start ${program.name}: ${err.message}`));
      let stderr = '';
      let settled = false;
      const fail = (message: string, code?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stream.close();
        reject(Object.assign(new Error(`${address}:${port} from ${node} (through ${program.name}): ${message}`), { code }));
      };
      const timer = setTimeout(
        () => fail(`no connection within ${RELAY_CONNECT_TIMEOUT_MS / 1000} s`, 'ETIMEDOUT'),
        RELAY_CONNECT_TIMEOUT_MS,
      );
      stream.stderr.on('data', (d: Buffer) => {
        if (settled) return; // (later diagnostics are dropped)
        stderr += d;
        if (!stderr.includes(MARKER)) return;
        settled = true;
        clearTimeout(timer);
        resolve(stream);
      });
      // 'exit' comes with the exit status even while nobody reads the (paused) stream; 'close' would wait for that
      const ended = () => {
        const reason =
          stderr
            .replace(/^kpki-relay: /m, '')
            .trim()
            .split('\n')
            .pop() || 'the relay ended before connecting';
        fail(reason, /refused/i.test(reason) ? 'ECONNREFUSED' : undefined);
      };
      stream.on('exit', ended);
      stream.on('close', ended);
    });
  });
}
