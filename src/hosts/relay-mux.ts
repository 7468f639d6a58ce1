// One relay per node for every probe connection, where sshd refuses TCP forwarding: a small python3 program run once
// through exec (one SSH session for the whole connection, whatever the cluster's size), carrying many TCP connections
// over its stdin and stdout in frames. kpki keeps doing the TLS with the credentials it holds; the relay only moves
// bytes, runs as the login user (no sudo), and ends when the SSH connection does.
//
// A frame: type (1 byte), connection id (uint32), length (uint32), payload. kpki sends O (open "host port"),
// D (data) and C (close); the relay answers R (ready, once), K (connected), F (failed: the reason), D and C.
import { Duplex } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import { closeChannel, type Opened } from './ssh-sessions.js';

const PYTHON = [
  'import errno, os, select, socket, struct, sys',
  'conns = {}',
  'byfd = {}',
  'def send(t, i, p=b""):',
  '    d = struct.pack(">BII", ord(t), i, len(p)) + p',
  '    while d:',
  '        d = d[os.write(1, d):]',
  'def close(i, tell):',
  '    c = conns.pop(i, None)',
  '    if c is None:',
  '        return',
  '    byfd.pop(c[0].fileno(), None)',
  '    try:',
  '        c[0].close()',
  '    except OSError:',
  '        pass',
  '    if tell:',
  '        send("C", i)',
  'def opened(i, p):',
  '    try:',
  '        host, port = p.decode().rsplit(" ", 1)',
  '        fam, typ, proto, _, addr = socket.getaddrinfo(host, int(port), 0, socket.SOCK_STREAM)[0]',
  '        s = socket.socket(fam, typ, proto)',
  '        s.setblocking(False)',
  '        e = s.connect_ex(addr)',
  '    except Exception as x:',
  '        return send("F", i, str(x).encode())',
  '    if e not in (0, errno.EINPROGRESS):',
  '        s.close()',
  '        return send("F", i, os.strerror(e).encode())',
  '    conns[i] = [s, bytearray(), True]',
  '    byfd[s.fileno()] = i',
  'send("R", 0)',
  'buf = b""',
  'while True:',
  '    rl = [0] + [c[0] for c in conns.values() if not c[2]]',
  '    wl = [c[0] for c in conns.values() if c[2] or c[1]]',
  '    r, w, _ = select.select(rl, wl, [])',
  '    for s in w:',
  '        i = byfd.get(s.fileno())',
  '        c = conns.get(i)',
  '        if c is None:',
  '            continue',
  '        if c[2]:',
  '            e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)',
  '            if e:',
  '                close(i, False)',
  '                send("F", i, os.strerror(e).encode())',
  '                continue',
  '            c[2] = False',
  '            send("K", i)',
  '        if c[1]:',
  '            try:',
  '                n = s.send(c[1])',
  '                del c[1][:n]',
  '            except (BlockingIOError, InterruptedError):',
  '                pass',
  '            except OSError:',
  '                close(i, True)',
  '    if 0 in r:',
  '        d = os.read(0, 65536)',
  '        if not d:',
  '            break',
  '        buf += d',
  '        while len(buf) >= 9:',
  '            t, i, n = struct.unpack(">BII", buf[:9])',
  '            if len(buf) < 9 + n:',
  '                break',
  '            p, buf = buf[9:9 + n], buf[9 + n:]',
  '            if t == 79:',
  '                opened(i, p)',
  '            elif t == 68 and i in conns:',
  '                conns[i][1] += p',
  '            elif t == 67:',
  '                close(i, False)',
  '    for s in r:',
  '        if s == 0:',
  '            continue',
  '        i = byfd.get(s.fileno())',
  '        if i is None:',
  '            continue',
  '        try:',
  '            d = s.recv(65536)',
  '        except (BlockingIOError, InterruptedError):',
  '            continue',
  '        except OSError:',
  '            d = b""',
  '        if d:',
  '            send("D", i, d)',
  '        else:',
  '            close(i, True)',
].join('\n');

/** POSIX shell quoting for one word. */
const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/** The command that starts the relay on the node (python3 3.4 or later: RHEL 8's 3.6 included). */
export const MUX_COMMAND = `python3 -u -c ${quote(PYTHON)} kpki-relay`;

const FRAME_HEADER = 9;
const MAX_FRAME = 32_768;

interface Pending {
  resolve: (stream: Duplex) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  address: string;
  port: number;
}

/** The kpki side of the relay: opens connections through it, each a Duplex like a socket. */
export class RelayMux {
  private nextId = 1;
  private buffer: Buffer = Buffer.alloc(0);
  private readonly streams = new Map<number, Duplex>();
  private readonly pending = new Map<number, Pending>();
  private ended?: Error;

  private readonly channel: ClientChannel;

  private constructor(
    { channel, closed }: Opened<ClientChannel>,
    private readonly node: string,
  ) {
    this.channel = channel;
    channel.on('data', (data: Buffer) => this.receive(data));
    channel.stderr.on('data', (data: Buffer) => {
      this.stderr = (this.stderr + data.toString()).slice(-2000);
    });
    // (after the last buffered output: a relay that could not start says why on stderr)
    const end = () =>
      setImmediate(() =>
        this.fail(new Error(`${node}: the relay ended${this.stderr.trim() ? `: ${this.stderr.trim().split('\n').pop()}` : ''}`)),
      );
    void closed.then(end);
    channel.on('error', (err: Error) => this.fail(err));
  }

  private stderr = '';

  /** True once the relay or its channel ended: a new one is started for the next connection. */
  get dead(): boolean {
    return this.ended !== undefined;
  }

  /** Starts the relay on an open exec channel and waits for its ready frame. */
  static start(opened: Opened<ClientChannel>, node: string, timeoutMs = 15_000): Promise<RelayMux> {
    const { channel } = opened;
    const mux = new RelayMux(opened, node);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        closeChannel(channel);
        reject(new Error(`${node}: the relay did not start within ${timeoutMs / 1000} s${mux.stderr ? `: ${mux.stderr.trim()}` : ''}`));
      }, timeoutMs);
      mux.onReady = () => {
        clearTimeout(timer);
        resolve(mux);
      };
      mux.onEnd = (err) => {
        clearTimeout(timer);
        reject(err);
      };
    });
  }

  private onReady?: () => void;
  private onEnd?: (err: Error) => void;

  /** A connection from the node to address:port; `timeoutMs` is the connect's own (the relay is already running). */
  open(address: string, port: number, timeoutMs: number): Promise<Duplex> {
    if (this.ended) return Promise.reject(this.ended);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.send('C', id);
        reject(
          Object.assign(new Error(`no connection to ${address}:${port} from ${this.node} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, address, port });
      this.send('O', id, Buffer.from(`${address} ${port}`));
    });
  }

  private send(type: 'O' | 'D' | 'C', id: number, payload: Buffer = Buffer.alloc(0)): boolean {
    if (this.ended) return true;
    const header = Buffer.alloc(FRAME_HEADER);
    header.writeUInt8(type.charCodeAt(0), 0);
    header.writeUInt32BE(id, 1);
    header.writeUInt32BE(payload.length, 5);
    return this.channel.write(Buffer.concat([header, payload]));
  }

  private receive(data: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, data]) : data;
    while (this.buffer.length >= FRAME_HEADER) {
      const length = this.buffer.readUInt32BE(5);
      if (this.buffer.length < FRAME_HEADER + length) return;
      const type = String.fromCharCode(this.buffer.readUInt8(0));
      const id = this.buffer.readUInt32BE(1);
      const payload = this.buffer.subarray(FRAME_HEADER, FRAME_HEADER + length);
      this.buffer = this.buffer.subarray(FRAME_HEADER + length);
      this.frame(type, id, payload);
    }
  }

  private frame(type: string, id: number, payload: Buffer): void {
    if (type === 'R') return this.onReady?.();
    const pending = this.pending.get(id);
    if (pending && (type === 'K' || type === 'F')) {
      this.pending.delete(id);
      clearTimeout(pending.timer);
      if (type === 'K') return pending.resolve(this.connection(id));
      const reason = payload.toString() || 'the relay could not connect';
      return pending.reject(
        Object.assign(new Error(`${pending.address}:${pending.port} from ${this.node} (through python3): ${reason}`), {
          code: /refused/i.test(reason) ? 'ECONNREFUSED' : undefined,
        }),
      );
    }
    const stream = this.streams.get(id);
    if (!stream) return;
    if (type === 'D') stream.push(Buffer.from(payload));
    else if (type === 'C') {
      this.streams.delete(id);
      stream.push(null);
    }
  }

  /** One connection through the relay, as a socket-like Duplex (writes in frames; end or destroy closes it). */
  private connection(id: number): Duplex {
    const mux = this;
    const stream = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        let ok = true;
        for (let at = 0; at < chunk.length; at += MAX_FRAME) ok = mux.send('D', id, chunk.subarray(at, at + MAX_FRAME)) && ok;
        if (ok) callback();
        else mux.channel.once('drain', () => callback());
      },
      final(callback) {
        mux.close(id);
        callback();
      },
      destroy(err, callback) {
        mux.close(id);
        callback(err);
      },
    });
    this.streams.set(id, stream);
    return stream;
  }

  private close(id: number): void {
    if (this.streams.delete(id)) this.send('C', id);
  }

  private fail(err: Error): void {
    if (this.ended) return;
    this.ended = err;
    this.onEnd?.(err);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
    for (const [id, stream] of this.streams) {
      this.streams.delete(id);
      stream.destroy(err);
    }
  }
}
