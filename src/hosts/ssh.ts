// A node reached over SSH (ssh2): SFTP for files (atomic writes: temp file, fsync, posix-rename), exec for programs,
// every session within what sshd allows (ssh-sessions.ts). Nothing is installed on the node. Connecting (host keys,
// authentication, jump hosts) is ssh-connect.ts.
import { hostname } from 'node:os';
import { posix } from 'node:path';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { Client, ClientChannel, SFTPWrapper, Stats } from 'ssh2';
import { KpkiError } from '../errors.js';
import { connectThrough, SshTarget } from './ssh-connect.js';
import {
  ExecResult,
  FileInfo,
  followSymlinks,
  followSymlinksInfo,
  Host,
  HostLock,
  LockHeldError,
  MAX_READ_BYTES,
  notRegular,
  StagedFile,
  tooLarge,
  WriteOptions,
} from './host.js';
import { findRelay, RelayProgram, relayConnected } from './relay.js';
import { RelayMux } from './relay-mux.js';
import { closeChannel, ClosingChannel, Opened, SessionGate, watched } from './ssh-sessions.js';
import { withTimeout } from '../util/timeout.js';
import { writeMode } from './secret-modes.js';

/** POSIX shell quoting for one word. */
export const shellQuote = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

const NO_SUCH_FILE = 2;
/** How long one SFTP request (a read of 32 KiB, a rename, an fsync) may take before the node counts as not answering. */
const SFTP_REQUEST_TIMEOUT_MS = 60_000;
// where distributions keep OpenSSH's sftp-server: the first that exists runs under sudo
const SUDO_SFTP = `sudo -n sh -c 'for p in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/lib/ssh/sftp-server /usr/libexec/sftp-server; do [ -x "$p" ] && exec "$p"; done; echo "kpki: no sftp-server found" >&2; exit 127'`;

function toInfo(st: Stats): FileInfo {
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  return { type, mode: st.mode & 0o7777, rawMode: st.mode, uid: st.uid, gid: st.gid, size: st.size };
}

function promisify<T>(fn: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

/** SFTP as the login user, or as root through sudo: the subsystem request becomes an exec of sftp-server. */
function openSftp(client: Client, sudo: boolean): Promise<SFTPWrapper> {
  if (!sudo) return promisify<SFTPWrapper>((cb) => client.sftp(cb));
  // ssh2 has no public way to run SFTP over an exec channel (mscdex/ssh2#1296 is open): for this one request,
  // the protocol's "subsystem sftp" is sent as "exec <sudo sftp-server>", which OpenSSH's sftp command does with -s.
  const protocol = (
    client as unknown as {
      _protocol: {
        subsystem: (id: number, name: string, wantReply: boolean) => void;
        exec: (id: number, cmd: string, wantReply: boolean) => void;
      };
    }
  )._protocol;
  const original = protocol.subsystem;
  protocol.subsystem = function (id: number, _name: string, wantReply: boolean) {
    protocol.subsystem = original;
    return protocol.exec(id, SUDO_SFTP, wantReply);
  };
  return promisify<SFTPWrapper>((cb) => client.sftp(cb)).finally(() => {
    protocol.subsystem = original;
  });
}

export async function connectSsh(target: SshTarget): Promise<SshHost> {
  const { client, hops } = await connectThrough(target);
  try {
    const sftp = await openSftp(client, target.sudo).catch((err: Error) => {
      throw new KpkiError(
        `${target.name}: no SFTP session${target.sudo ? ' through sudo -n (does the user have passwordless sudo?)' : ''}: ${err.message}`,
      );
    });
    return new SshHost(target, client, sftp, hops);
  } catch (err) {
    for (const c of [client, ...hops]) c.end();
    throw err;
  }
}

/** SSH_OPEN_ADMINISTRATIVELY_PROHIBITED: sshd's answer to a forwarding it does not allow (RFC 4254). */
const ADMINISTRATIVELY_PROHIBITED = 1;

/** Runs one command on an open exec channel and collects its output (a timeout ends the channel, exit 124). */
function collect({ channel, closed }: Opened<ClientChannel>, timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      closeChannel(channel);
      resolve({ code: 124, stdout, stderr: `${stderr}timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    // (output a command gave before these listeners exist waits in the streams' buffers)
    channel.on('data', (d: Buffer) => (stdout += d));
    channel.stderr.on('data', (d: Buffer) => (stderr += d));
    void closed.then((code) => {
      clearTimeout(timer);
      // the streams' last buffered output comes before their end: let it arrive
      setImmediate(() => resolve({ code: code ?? 1, stdout, stderr }));
    });
  });
}

export { HostKeyError, type SshJump, type SshTarget } from './ssh-connect.js';

export class SshHost implements Host {
  readonly live = true;
  readonly name: string;
  /** The connection ended (closed by kpki, the node, or a failed keep-alive): a pool must connect again. */
  closed = false;

  /** Every session (exec, SFTP, a relay) waits for one of those sshd allows on this connection (MaxSessions). */
  private readonly sessions: SessionGate;

  constructor(
    readonly target: SshTarget,
    private readonly client: Client,
    private readonly sftp: SFTPWrapper,
    private readonly hops: Client[] = [],
  ) {
    this.name = target.name;
    const ended = () => {
      this.closed = true;
    };
    client.once('close', ended);
    client.once('end', ended);
    this.sessions = new SessionGate(target.name, target.maxSessions ?? 10, (message) => this.onNotice?.(message));
    this.sessions.adopt(sftp as unknown as ClosingChannel);
  }

  /**
   * One SFTP request, bounded: sshd or sftp-server that never answers (a lost reply, a node that hangs on its disk)
   * is an error naming the node and the request, never a run that waits for ever.
   */
  private sftpRequest<T>(request: string, fn: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
    return withTimeout(
      promisify(fn),
      SFTP_REQUEST_TIMEOUT_MS,
      `${this.name}: the SFTP ${request} request had no answer within ${SFTP_REQUEST_TIMEOUT_MS / 1000} s`,
    );
  }

  /** A session running `command`, once one is free (`what` names it in a message about waiting too long). */
  private execChannel(command: string, what: string): Promise<Opened<ClientChannel>> {
    return this.sessions.session(
      () =>
        new Promise<Opened<ClientChannel>>((resolve, reject) =>
          // (watched here, in ssh2's callback: a short command may close before anything awaiting it resumes)
          this.client.exec(command, (err, stream) => (err ? reject(err) : resolve(watched(stream)))),
        ),
      what,
    );
  }

  /** Runs a command in a session and collects its output; a session that cannot be had is an error naming the program. */
  private async runCommand(command: string, timeoutMs: number, program: string): Promise<ExecResult> {
    let channel: Opened<ClientChannel>;
    try {
      channel = await this.execChannel(command, program);
    } catch (err) {
      if (err instanceof KpkiError) throw err;
      throw new KpkiError(`${this.name}: cannot run ${program}: ${(err as Error).message}`);
    }
    return collect(channel, timeoutMs);
  }

  close(): void {
    this.closed = true;
    this.client.end();
    for (const hop of this.hops) hop.end();
  }

  describe(path: string): string {
    return `${this.name}:${path}`;
  }

  /**
   * A connection from the node to address:port, as a probe on the node itself would make it: a forwarded channel
   * (direct-tcpip), or, where sshd refuses forwarding (AllowTcpForwarding no, PermitOpen), through a relay run on the
   * node (relay.ts). TLS and credentials stay in kpki either way; the node sees the same connection. `timeoutMs` is
   * the connect's own: waiting for a session or for the relay to start is kpki's time, not the component's.
   */
  async connectTcp(address: string, port: number, timeoutMs = 10_000): Promise<Duplex> {
    if (this.probeWay !== 'relay') {
      try {
        return await withTimeout(
          this.forward(address, port),
          timeoutMs,
          `no connection to ${address}:${port} from ${this.name} within ${timeoutMs} ms`,
        );
      } catch (err) {
        if ((err as { reason?: number }).reason !== ADMINISTRATIVELY_PROHIBITED) throw err;
        this.probeWay = 'relay';
      }
    }
    const relay = await (this.relay ??= this.chooseRelay());
    if (relay.kind === 'mux') return (await this.mux(relay.command)).open(address, port, timeoutMs);
    const channel = await this.execChannel(relay.command(address, port, timeoutMs), `a probe of ${address}:${port}`);
    return relayConnected(channel, address, port, this.name, timeoutMs);
  }

  /** How probes reach the node's ports: forwarded channels until sshd refuses one, then a relay program. */
  private probeWay: 'forward' | 'relay' = 'forward';
  private relay?: Promise<RelayProgram>;
  private muxing?: Promise<RelayMux>;
  /** Told once per node when probes go through a relay program (the CLI prints it, a rollout logs it). */
  onNotice?: (message: string) => void;

  /** The node's one relay for every connection, started on first use and again if it ended. */
  private async mux(command: string): Promise<RelayMux> {
    const current = this.muxing;
    const running = await current?.catch(() => undefined);
    if (running && !running.dead) return running;
    if (this.muxing === current)
      this.muxing = this.execChannel(command, 'the probe relay').then((channel) => RelayMux.start(channel, this.name));
    return this.muxing!;
  }

  private async chooseRelay(): Promise<RelayProgram> {
    const program = await findRelay((command) => this.runAsLogin(command));
    if (!program) {
      const error = new KpkiError(
        `${this.name}: sshd refuses TCP forwarding (AllowTcpForwarding no, or PermitOpen) and neither python3 nor bash is there to relay probes: ` +
          `install python3 (or bash) on ${this.name}, or allow kpki's user to forward to the node's own ports (Match User <user>: AllowTcpForwarding local, PermitOpen 127.0.0.1:2379 127.0.0.1:2381 127.0.0.1:6443 127.0.0.1:10248 127.0.0.1:10257 127.0.0.1:10259 and the same on the node's address)`,
      );
      this.onNotice?.(error.message);
      throw error;
    }
    this.onNotice?.(
      `${this.name}: sshd refuses TCP forwarding: health probes go through ${program.name} on the node (${program.kind === 'mux' ? 'one relay for every probe' : 'a relay per probe'}, exec, no forwarding)`,
    );
    return program;
  }

  private forward(address: string, port: number): Promise<Duplex> {
    return new Promise((resolve, reject) =>
      this.client.forwardOut('127.0.0.1', 0, address, port, (err, stream) => {
        if (!err) return resolve(stream);
        const reason = (err as { reason?: number }).reason;
        reject(
          Object.assign(new Error(`${address}:${port} from ${this.name}: ${err.message}`), {
            reason,
            code: /refused|connect failed/i.test(err.message) ? 'ECONNREFUSED' : undefined,
          }),
        );
      }),
    );
  }

  /** A program run as the login user (no sudo: a relay needs no rights), its output collected. */
  private runAsLogin(command: string, timeoutMs = 15_000): Promise<ExecResult> {
    return this.runCommand(command, timeoutMs, command.split(' ')[0]);
  }

  async readFile(path: string, options: { maxBytes?: number } = {}): Promise<Buffer> {
    const { path: real, info } = await followSymlinksInfo(this, path);
    // sftp-server opens without O_NONBLOCK: a FIFO would hang the whole session, a device never end; refused unopened
    if (info && info.type !== 'file') throw notRegular(this.describe(path), info.rawMode ?? 0);
    try {
      return await this.readBounded(real, path, options.maxBytes ?? MAX_READ_BYTES);
    } catch (err) {
      // SFTP's "no such file" as Node's, so callers tell a missing file from an unreadable one
      if ((err as { code?: number }).code === NO_SUCH_FILE)
        throw Object.assign(new Error(`ENOENT: no such file or directory, open '${this.describe(path)}'`), { code: 'ENOENT' });
      throw err;
    }
  }

  /** open, fstat (refusing what is too large before reading a byte), read, close: as many round trips as ssh2's readFile. */
  private async readBounded(real: string, path: string, maxBytes: number): Promise<Buffer> {
    const sftp = this.sftp;
    const handle = await this.sftpRequest<Buffer>('open', (cb) => sftp.open(real, 'r', cb));
    try {
      const st = await this.sftpRequest<Stats>('fstat', (cb) => sftp.fstat(handle, cb));
      if (!st.isFile()) throw notRegular(this.describe(path), st.mode);
      const size = st.size;
      if (size > maxBytes) throw tooLarge(this.describe(path), size);
      const data = Buffer.alloc(size);
      let offset = 0;
      while (offset < size) {
        const got = await this.sftpRequest<number>('read', (cb) =>
          sftp.read(handle, data, offset, Math.min(32_768, size - offset), offset, (err, n) => cb(err, n)),
        );
        if (got === 0) break;
        offset += got;
      }
      return offset === size ? data : data.subarray(0, offset);
    } finally {
      await this.sftpRequest<void>('close', (cb) => sftp.close(handle, (err) => cb(err, undefined))).catch(() => undefined);
    }
  }

  async stat(path: string): Promise<FileInfo | null> {
    try {
      const info = toInfo(await this.sftpRequest<Stats>('lstat', (cb) => this.sftp.lstat(path, cb)));
      if (info.type === 'symlink') info.linkTarget = await this.sftpRequest<string>('readlink', (cb) => this.sftp.readlink(path, cb));
      return info;
    } catch (err) {
      if ((err as { code?: number }).code === NO_SUCH_FILE) return null;
      throw err;
    }
  }

  resolve(path: string): Promise<string> {
    return followSymlinks(this, path);
  }

  async list(dir: string): Promise<string[]> {
    try {
      const entries = await this.sftpRequest<{ filename: string }[]>('readdir', (cb) => this.sftp.readdir(dir, cb));
      return entries.map((e) => e.filename).sort();
    } catch (err) {
      if ((err as { code?: number }).code === NO_SUCH_FILE) return [];
      throw err;
    }
  }

  private async run(argv: string[], timeoutMs = 60_000): Promise<ExecResult> {
    const command = (this.target.sudo ? ['sudo', '-n', '--', ...argv] : argv).map(shellQuote).join(' ');
    return this.runCommand(command, timeoutMs, argv[0]);
  }

  private async must(argv: string[]): Promise<string> {
    const r = await this.run(argv);
    if (r.code !== 0) throw new KpkiError(`${this.name}: \`${argv.join(' ')}\` failed: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  }

  exec(argv: string[], options: { timeoutMs?: number } = {}): Promise<ExecResult> {
    return this.run(argv, options.timeoutMs);
  }

  async mkdirp(dir: string, mode: number): Promise<void> {
    await this.must(['mkdir', '-p', '-m', mode.toString(8), '--', dir]);
  }

  async writeFileAtomic(path: string, data: Buffer | string, asked: WriteOptions): Promise<void> {
    // (SFTP cannot fsync a directory: a single write's rename is left to the node's own flush; transactions
    // sync their directories once with syncDirs)
    await (await this.stageFile(path, data, asked)).commit();
  }

  async syncDirs(dirs: string[]): Promise<void> {
    if (dirs.length) await this.must(['sync', '--', ...dirs]);
  }

  async stageFile(path: string, data: Buffer | string, asked: WriteOptions): Promise<StagedFile> {
    const options = { ...asked, mode: writeMode(data, asked.mode) };
    const temp = posix.join(posix.dirname(path), `.${posix.basename(path)}.kpki-${randomBytes(4).toString('hex')}.tmp`);
    const sftp = this.sftp;
    const discard = async () => {
      await this.run(['rm', '-f', '--', temp]);
    };
    const handle = await this.sftpRequest<Buffer>('open', (cb) => sftp.open(temp, 'wx', { mode: options.mode }, cb));
    try {
      const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
      let offset = 0;
      while (offset < bytes.length) {
        const chunk = Math.min(32_768, bytes.length - offset);
        await this.sftpRequest<void>('write', (cb) => sftp.write(handle, bytes, offset, chunk, offset, (err) => cb(err, undefined)));
        offset += chunk;
      }
      await this.sftpRequest<void>('fchmod', (cb) => sftp.fchmod(handle, options.mode, (err) => cb(err, undefined)));
      if (options.uid !== undefined && options.gid !== undefined)
        await this.sftpRequest<void>('fchown', (cb) => sftp.fchown(handle, options.uid!, options.gid!, (err) => cb(err, undefined)));
      await this.sftpRequest<void>('ext_openssh_fsync', (cb) => sftp.ext_openssh_fsync(handle, (err) => cb(err, undefined)));
    } catch (err) {
      await this.sftpRequest<void>('close', (cb) => sftp.close(handle, (e) => cb(e, undefined))).catch(() => undefined);
      await discard();
      throw err;
    }
    await this.sftpRequest<void>('close', (cb) => sftp.close(handle, (err) => cb(err, undefined)));
    return {
      discard,
      commit: () =>
        this.rename(temp, path).catch(async (err) => {
          await discard();
          throw err;
        }),
    };
  }

  async symlinkAtomic(path: string, target: string): Promise<void> {
    const temp = posix.join(posix.dirname(path), `.${posix.basename(path)}.kpki-${randomBytes(4).toString('hex')}.tmp`);
    await this.must(['ln', '-s', '--', target, temp]);
    await this.must(['mv', '-Tf', '--', temp, path]); // rename(2): atomic
  }

  async remove(path: string): Promise<void> {
    await this.must(['rm', '-rf', '--', path]);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.sftpRequest<void>('ext_openssh_rename', (cb) => this.sftp.ext_openssh_rename(from, to, (err) => cb(err, undefined)));
  }

  /**
   * The node lock: a file naming this kpki process and the operator's machine, that appears whole (a complete temp
   * file hard-linked into place by ln(1), which fails if the lock exists), so no reader ever sees it empty.
   */
  async lock(path: string): Promise<HostLock> {
    await this.mkdirp(posix.dirname(path), 0o700);
    const me = `${process.pid}\npid ${process.pid} on ${hostname()} (over SSH) since ${new Date().toISOString()}\n`;
    for (let attempt = 0; attempt < 2; attempt++) {
      const temp = posix.join(posix.dirname(path), `.${posix.basename(path)}.kpki-${randomBytes(4).toString('hex')}.tmp`);
      await this.writeFileAtomic(temp, me, { mode: 0o600 });
      const linked = await this.run(['ln', '--', temp, path]);
      await this.run(['rm', '-f', '--', temp]);
      if (linked.code === 0)
        return {
          release: async () => {
            if ((await this.readFile(path).catch(() => undefined))?.toString() === me) await this.remove(path);
          },
        };
      const text = (await this.readFile(path).catch(() => Buffer.alloc(0))).toString();
      if (!text) {
        if (attempt === 0) continue; // released meanwhile
        throw new KpkiError(`${this.describe(path)}: cannot create the node lock: ${(linked.stderr || linked.stdout).trim()}`);
      }
      const [pidLine, holder] = text.split('\n');
      // a kpki of this operator's machine that died left it: stale; anyone else's: held
      const mine = holder?.includes(` on ${hostname()} (over SSH)`);
      let alive = true;
      try {
        process.kill(Number(pidLine), 0);
      } catch {
        alive = false;
      }
      if (!mine || alive) throw new LockHeldError(this.describe(path), holder ?? 'unknown holder');
      await this.remove(path);
    }
    throw new LockHeldError(this.describe(path), 'unknown holder');
  }
}
