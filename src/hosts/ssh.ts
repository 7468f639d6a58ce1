// A node reached over SSH (ssh2): SFTP for files (atomic writes: temp file, fsync, posix-rename), exec for programs.
// Nothing is installed on the node. Host keys are checked against known_hosts; an unknown or changed key stops here.
import { appendFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join, posix } from 'node:path';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { AnyAuthMethod as AuthMethod, Client, SFTPWrapper, Stats } from 'ssh2';
import { KpkiError, UsageError } from '../errors.js';
import { checkHostKey, knownHostsName } from './known-hosts.js';
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
import { findRelay, openRelay, RelayProgram } from './relay.js';
import { writeMode } from './secret-modes.js';
import { readRegularFile, readRegularText } from '../util/read-file.js';

/** One hop on the way (OpenSSH's ProxyJump); its host key is checked like the node's. */
export interface SshJump {
  address: string;
  port: number;
  user: string;
  keyFile?: string;
}

export interface SshTarget {
  name: string;
  address: string;
  port: number;
  user: string;
  /** Private key file on the operator's machine; without one, the agent and then ~/.ssh/id_* as OpenSSH tries them. */
  keyFile?: string;
  password?: string;
  /** Files and programs as root through `sudo -n` (SFTP runs as `sudo -n sftp-server`). */
  sudo: boolean;
  knownHostsFile: string;
  acceptNewHostKeys: boolean;
  timeoutMs: number;
  jump?: SshJump;
}

export class HostKeyError extends KpkiError {}

/** POSIX shell quoting for one word. */
export const shellQuote = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

const NO_SUCH_FILE = 2;
const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];
// where distributions keep OpenSSH's sftp-server: the first that exists runs under sudo
const SUDO_SFTP = `sudo -n sh -c 'for p in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/lib/ssh/sftp-server /usr/libexec/sftp-server; do [ -x "$p" ] && exec "$p"; done; echo "kpki: no sftp-server found" >&2; exit 127'`;

function toInfo(st: Stats): FileInfo {
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  return { type, mode: st.mode & 0o7777, rawMode: st.mode, uid: st.uid, gid: st.gid, size: st.size };
}

function promisify<T>(fn: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

type Ssh2 = typeof import('ssh2');

async function loadSsh2(): Promise<Ssh2> {
  // loaded on first use: from node_modules (npm kpki, with ssh2's optional native parts), or bundled (the standalone executable)
  let ssh2: Ssh2 & { default?: Ssh2 };
  try {
    ssh2 = (await import('ssh2')) as unknown as Ssh2 & { default?: Ssh2 };
  } catch (err) {
    throw new KpkiError(`SSH needs the ssh2 package, which this kpki cannot load (${(err as Error).message.split('\n')[0]})`, {
      exitCode: 3,
      hint: 'reinstall kpki with its dependencies (npm install kpki), or use the standalone executable, which carries ssh2',
    });
  }
  return ssh2.default?.Client ? ssh2.default : ssh2;
}

/** What OpenSSH would offer: the key file given, else the agent and the default identities; then a password. */
function authMethods(ssh2: Ssh2, user: string, keyFile: string | undefined, password: string | undefined): AuthMethod[] {
  const methods: AuthMethod[] = [];
  const keyFiles = keyFile ? [keyFile] : DEFAULT_IDENTITIES.map((f) => join(homedir(), '.ssh', f));
  if (!keyFile && process.env.SSH_AUTH_SOCK) methods.push({ type: 'agent', username: user, agent: process.env.SSH_AUTH_SOCK });
  for (const file of keyFiles) {
    let key: Buffer;
    try {
      key = readRegularFile(file);
    } catch (err) {
      if (keyFile) throw new UsageError(`cannot read the SSH key ${file}: ${(err as Error).message}`);
      continue;
    }
    const parsed = ssh2.utils.parseKey(key);
    if (parsed instanceof Error) {
      // an encrypted key needs its passphrase: OpenSSH would ask; kpki leaves it to the agent
      if (keyFile)
        throw new UsageError(
          `the SSH key ${file} cannot be used: ${parsed.message}${/encrypted/i.test(parsed.message) ? ' (add it to ssh-agent)' : ''}`,
        );
      continue;
    }
    methods.push({ type: 'publickey', username: user, key });
  }
  if (password !== undefined) methods.push({ type: 'password', username: user, password });
  return methods;
}

interface ConnectStep {
  name: string;
  address: string;
  port: number;
  user: string;
  keyFile?: string;
  password?: string;
  sock?: Duplex;
}

/** One SSH connection, its host key checked against known_hosts. */
function connectOne(ssh2: Ssh2, step: ConnectStep, target: SshTarget): Promise<Client> {
  const client = new ssh2.Client();
  const name = knownHostsName(step.address, step.port);
  let refusal: string | undefined;
  return new Promise<Client>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.end();
      reject(new KpkiError(`${step.name} (${name}): no SSH connection within ${target.timeoutMs / 1000} s`));
    }, target.timeoutMs);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve(client);
    });
    client.once('error', (err) => {
      clearTimeout(timer);
      reject(refusal ? new HostKeyError(refusal, { exitCode: 1 }) : new KpkiError(`${step.name} (${name}): SSH: ${err.message}`));
    });
    let known = '';
    try {
      known = readRegularText(target.knownHostsFile);
    } catch {
      known = '';
    }
    let methods: AuthMethod[];
    try {
      methods = authMethods(ssh2, step.user, step.keyFile, step.password);
    } catch (err) {
      clearTimeout(timer);
      return reject(err);
    }
    client.connect({
      host: step.address,
      port: step.port,
      sock: step.sock,
      username: step.user,
      authHandler: methods,
      readyTimeout: target.timeoutMs,
      keepaliveInterval: 10_000,
      hostVerifier: (key: Buffer) => {
        const verdict = checkHostKey(known, name, key);
        if (verdict === 'match') return true;
        const type = key.subarray(4, 4 + key.readUInt32BE(0)).toString();
        if (verdict === 'unknown' && target.acceptNewHostKeys) {
          appendFileSync(target.knownHostsFile, `${name} ${type} ${key.toString('base64')}\n`, { mode: 0o600 });
          return true;
        }
        refusal =
          verdict === 'changed'
            ? `${step.name} (${name}): the host key (${type}) is NOT the one recorded in ${target.knownHostsFile}: refusing to connect. If the node was reinstalled, remove its old entry (ssh-keygen -R '${name}' -f ${target.knownHostsFile}).`
            : `${step.name} (${name}): unknown host key (${type}), not in ${target.knownHostsFile}: refusing to connect. Check it and add it (ssh-keyscan), or use --accept-new-host-keys.`;
        return false;
      },
    });
    // Without its native binding (the standalone executable) ssh2 writes each packet as three small writes: with
    // Nagle's algorithm every request then waits for the node's delayed ACK (~40 ms a round trip, 20x slower reads).
    client.setNoDelay(true);
  });
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
  const ssh2 = await loadSsh2();
  const clients: Client[] = [];
  try {
    let sock: Duplex | undefined;
    if (target.jump) {
      const j = target.jump;
      const jump = await connectOne(
        ssh2,
        { name: `jump host ${j.user}@${j.address}`, address: j.address, port: j.port, user: j.user, keyFile: j.keyFile },
        target,
      );
      clients.push(jump);
      sock = await new Promise<Duplex>((resolve, reject) =>
        jump.forwardOut('127.0.0.1', 0, target.address, target.port, (err, stream) =>
          err
            ? reject(
                new KpkiError(`${target.name}: the jump host ${j.address} cannot reach ${target.address}:${target.port}: ${err.message}`),
              )
            : resolve(stream),
        ),
      );
    }
    const client = await connectOne(
      ssh2,
      {
        name: target.name,
        address: target.address,
        port: target.port,
        user: target.user,
        keyFile: target.keyFile,
        password: target.password,
        sock,
      },
      target,
    );
    clients.push(client);
    const sftp = await openSftp(client, target.sudo).catch((err: Error) => {
      throw new KpkiError(
        `${target.name}: no SFTP session${target.sudo ? ' through sudo -n (does the user have passwordless sudo?)' : ''}: ${err.message}`,
      );
    });
    return new SshHost(target, client, sftp, clients.slice(0, -1));
  } catch (err) {
    for (const c of clients) c.end();
    throw err;
  }
}

/** SSH_OPEN_ADMINISTRATIVELY_PROHIBITED: sshd's answer to a forwarding it does not allow (RFC 4254). */
const ADMINISTRATIVELY_PROHIBITED = 1;

/** Runs one command on the node and collects its output (a timeout ends the channel, exit 124). */
function collect(client: Client, command: string, timeoutMs: number, node: string, program = command.split(' ')[0]): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, stream) => {
      if (err) return reject(new KpkiError(`${node}: cannot run ${program}: ${err.message}`));
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        stream.close();
        resolve({ code: 124, stdout, stderr: `${stderr}timed out after ${timeoutMs} ms` });
      }, timeoutMs);
      stream.on('data', (d: Buffer) => (stdout += d));
      stream.stderr.on('data', (d: Buffer) => (stderr += d));
      stream.on('close', (code: number | null) => {
        clearTimeout(timer);
        resolve({ code: code ?? 1, stdout, stderr });
      });
    });
  });
}

export class SshHost implements Host {
  readonly live = true;
  readonly name: string;
  /** The connection ended (closed by kpki, the node, or a failed keep-alive): a pool must connect again. */
  closed = false;

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
   * (direct-tcpip), or, where sshd refuses forwarding (AllowTcpForwarding no, PermitOpen), a byte relay run on the
   * node (relay.ts). TLS and credentials stay in kpki either way; the node sees the same connection.
   */
  async connectTcp(address: string, port: number): Promise<Duplex> {
    if (this.probeWay !== 'relay') {
      try {
        return await this.forward(address, port);
      } catch (err) {
        if ((err as { reason?: number }).reason !== ADMINISTRATIVELY_PROHIBITED) throw err;
        this.probeWay = 'relay';
      }
    }
    const relay = await (this.relay ??= this.chooseRelay());
    return openRelay(this.client, relay, address, port, this.name);
  }

  /** How probes reach the node's ports: forwarded channels until sshd refuses one, then a relay program. */
  private probeWay: 'forward' | 'relay' = 'forward';
  private relay?: Promise<RelayProgram>;
  /** Told once per node when probes go through a relay program (the CLI prints it, a rollout logs it). */
  onNotice?: (message: string) => void;

  private async chooseRelay(): Promise<RelayProgram> {
    const program = await findRelay((command) => this.runAsLogin(command));
    if (!program) {
      const error = new KpkiError(
        `${this.name}: sshd refuses TCP forwarding (AllowTcpForwarding no, or PermitOpen) and neither python3 nor bash is there to relay probes: ` +
          `on ${this.name}, allow kpki's user local forwarding (Match User <user>: AllowTcpForwarding local, PermitOpen any) or install python3`,
      );
      this.onNotice?.(error.message);
      throw error;
    }
    this.onNotice?.(
      `${this.name}: sshd refuses TCP forwarding: health probes go through ${program.name} on the node (exec, no forwarding)`,
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
    return collect(this.client, command, timeoutMs, this.name);
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
    const handle = await promisify<Buffer>((cb) => sftp.open(real, 'r', cb));
    try {
      const st = await promisify<Stats>((cb) => sftp.fstat(handle, cb));
      if (!st.isFile()) throw notRegular(this.describe(path), st.mode);
      const size = st.size;
      if (size > maxBytes) throw tooLarge(this.describe(path), size);
      const data = Buffer.alloc(size);
      let offset = 0;
      while (offset < size) {
        const got = await promisify<number>((cb) =>
          sftp.read(handle, data, offset, Math.min(32_768, size - offset), offset, (err, n) => cb(err, n)),
        );
        if (got === 0) break;
        offset += got;
      }
      return offset === size ? data : data.subarray(0, offset);
    } finally {
      await promisify<void>((cb) => sftp.close(handle, (err) => cb(err, undefined))).catch(() => undefined);
    }
  }

  async stat(path: string): Promise<FileInfo | null> {
    try {
      const info = toInfo(await promisify<Stats>((cb) => this.sftp.lstat(path, cb)));
      if (info.type === 'symlink') info.linkTarget = await promisify<string>((cb) => this.sftp.readlink(path, cb));
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
      const entries = await promisify<{ filename: string }[]>((cb) => this.sftp.readdir(dir, cb));
      return entries.map((e) => e.filename).sort();
    } catch (err) {
      if ((err as { code?: number }).code === NO_SUCH_FILE) return [];
      throw err;
    }
  }

  private async run(argv: string[], timeoutMs = 60_000): Promise<ExecResult> {
    const command = (this.target.sudo ? ['sudo', '-n', '--', ...argv] : argv).map(shellQuote).join(' ');
    return collect(this.client, command, timeoutMs, this.name, argv[0]);
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
    const handle = await promisify<Buffer>((cb) => sftp.open(temp, 'wx', { mode: options.mode }, cb));
    try {
      const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
      let offset = 0;
      while (offset < bytes.length) {
        const chunk = Math.min(32_768, bytes.length - offset);
        await promisify<void>((cb) => sftp.write(handle, bytes, offset, chunk, offset, (err) => cb(err, undefined)));
        offset += chunk;
      }
      await promisify<void>((cb) => sftp.fchmod(handle, options.mode, (err) => cb(err, undefined)));
      if (options.uid !== undefined && options.gid !== undefined)
        await promisify<void>((cb) => sftp.fchown(handle, options.uid!, options.gid!, (err) => cb(err, undefined)));
      await promisify<void>((cb) => sftp.ext_openssh_fsync(handle, (err) => cb(err, undefined)));
    } catch (err) {
      await promisify<void>((cb) => sftp.close(handle, (e) => cb(e, undefined))).catch(() => undefined);
      await discard();
      throw err;
    }
    await promisify<void>((cb) => sftp.close(handle, (err) => cb(err, undefined)));
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
    await promisify<void>((cb) => this.sftp.ext_openssh_rename(from, to, (err) => cb(err, undefined)));
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
