// OpenSSH's client configuration as `ssh` reads it, so that an inventory that works for ssh and Ansible works for
// kpki: ~/.ssh/config, then /etc/ssh/ssh_config (or one file, as `ssh -F` takes it), Include, Host and Match blocks,
// the first value obtained for a keyword wins (IdentityFile and CertificateFile add up), %-tokens and ~ in paths.
// What kpki cannot do as ssh does (ProxyCommand, Match exec, ...) is named with its file and line, never ignored.
import { readdirSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { readRegularText } from '../util/read-file.js';

/** One keyword line, where it was read. */
interface Line {
  keyword: string;
  args: string[];
  where: string;
}

/**
 * A block of the files: the lines that apply when its condition holds (`Host *` for what precedes any block), and the
 * conditions of the blocks an Include inside it stood in (a file included from a Host block applies only there).
 */
interface Block {
  kind: 'host' | 'match';
  args: string[];
  where: string;
  lines: Line[];
  parents: Block[];
}

export interface SshConfig {
  blocks: Block[];
  files: string[];
}

/** What the files say for one host (only what they say: the caller's own values and defaults come around it). */
export interface SshOptions {
  hostName?: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  certificateFiles: string[];
  identitiesOnly?: boolean;
  /** OpenSSH's ProxyJump: hops, each [user@]host[:port], or "none". */
  proxyJump?: string;
  userKnownHostsFiles?: string[];
  globalKnownHostsFiles?: string[];
  strictHostKeyChecking?: string;
  connectTimeoutMs?: number;
  /** The name host keys are recorded under in known_hosts, instead of the host's. */
  hostKeyAlias?: string;
  /** Keywords that apply to this host and that kpki cannot honour, with their file and line. */
  unsupported: string[];
}

/** The keywords kpki acts on, and those that change how ssh connects in a way kpki cannot follow (refused). */
const USED = new Set([
  'hostname',
  'user',
  'port',
  'identityfile',
  'certificatefile',
  'identitiesonly',
  'proxyjump',
  'userknownhostsfile',
  'globalknownhostsfile',
  'stricthostkeychecking',
  'connecttimeout',
  'hostkeyalias',
]);
/** What changes how ssh connects in a way kpki cannot follow (refused with its line). GSSAPI, sk- and PKCS#11 keys are
 * other ways to authenticate: kpki offers the keys it can, and lists them when sshd refuses every one. */
const CANNOT = new Set(['proxycommand', 'canonicalizehostname']);

/** Splits a line as OpenSSH does: keyword, then arguments (whitespace or one "=" after the keyword, double quotes). */
function tokenize(text: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  const body = text.replace(/^\s*(\S+?)\s*=\s*/, '$1 ');
  for (let m = re.exec(body); m; m = re.exec(body)) words.push(m[1] ?? m[2]);
  return words;
}

const tilde = (path: string) => (path === '~' ? homedir() : path.startsWith('~/') ? join(homedir(), path.slice(2)) : path);

/** Reads the files in order (Include followed where it stands); a missing file is no error, as for ssh. */
export function loadSshConfig(files: string[]): SshConfig {
  const config: SshConfig = { blocks: [], files: [] };
  files.forEach((file, i) => readInto(config, tilde(file), i === 0 && !file.startsWith('/etc/'), 0, []));
  return config;
}

function readInto(config: SshConfig, file: string, userFile: boolean, depth: number, parents: Block[]): void {
  if (depth > 16) throw new UsageError(`${file}: Include nested too deep (a loop?)`);
  let text: string;
  try {
    text = readRegularText(file, { maxBytes: 1 << 20 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new UsageError(`cannot read the SSH config ${file}: ${(err as Error).message}`);
  }
  config.files.push(file);
  const open = (kind: Block['kind'], args: string[], where: string): Block => {
    const block: Block = { kind, args, where, lines: [], parents };
    config.blocks.push(block);
    return block;
  };
  let block = open('host', ['*'], file);
  text.split('\n').forEach((raw, i) => {
    const where = `${file}:${i + 1}`;
    if (/^\s*(#|$)/.test(raw)) return;
    const [word, ...args] = tokenize(raw);
    const keyword = word.toLowerCase();
    if (keyword === 'host' || keyword === 'match') block = open(keyword, args, where);
    else if (keyword === 'include') {
      for (const pattern of args) {
        const path = tilde(pattern);
        const base = isAbsolute(path) ? path : join(userFile ? join(homedir(), '.ssh') : '/etc/ssh', path);
        for (const found of glob(base)) readInto(config, found, userFile, depth + 1, [...block.parents, block]);
      }
      // what follows the Include in this block comes after what the included files said
      block = open(block.kind, block.args, block.where);
    } else block.lines.push({ keyword, args, where });
  });
}

/** A path with * and ? in its last component, as Include takes it (sorted, as glob(3) returns them). */
function glob(path: string): string[] {
  if (!/[*?]/.test(path)) return [path];
  const dir = dirname(path);
  const pattern = wildcard(path.slice(dir.length + 1));
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => pattern.test(n))
    .sort()
    .map((n) => join(dir, n))
    .filter((p) => statSync(p, { throwIfNoEntry: false })?.isFile());
}

const wildcard = (pattern: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );

/** OpenSSH's pattern list: any positive pattern matches and no negated one does (case-insensitive for host names). */
export function matchesPatterns(name: string, patterns: string[]): boolean {
  let matched = false;
  for (const p of patterns.flatMap((a) => a.split(','))) {
    const negated = p.startsWith('!');
    if (!wildcard((negated ? p.slice(1) : p).toLowerCase()).test(name.toLowerCase())) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

interface Target {
  /** The host as given (the inventory's address, else its name). */
  original: string;
  user?: string;
}

/** Whether a Match line holds for the target (the host after any HostName seen so far). */
function matchHolds(block: Block, host: string, t: Target, user: string | undefined): boolean {
  const args = [...block.args];
  while (args.length) {
    const criterion = args.shift()!.toLowerCase();
    if (criterion === 'all') continue;
    if (criterion === 'final') continue; // (kpki reads the files once: that pass is the final one)
    if (criterion === 'canonical') return false;
    const value = args.shift() ?? '';
    const negate = criterion.startsWith('!');
    const name = negate ? criterion.slice(1) : criterion;
    let ok: boolean;
    if (name === 'host') ok = matchesPatterns(host, [value]);
    else if (name === 'originalhost') ok = matchesPatterns(t.original, [value]);
    else if (name === 'user') ok = matchesPatterns(user ?? userInfo().username, [value]);
    else if (name === 'localuser') ok = matchesPatterns(userInfo().username, [value]);
    else
      throw new UsageError(
        `${block.where}: kpki cannot evaluate "Match ${name}" as ssh does`,
        'give this host its settings in the inventory, or a config file without it (--ssh-config FILE)',
      );
    if (ok === negate) return false;
  }
  return true;
}

/** %-tokens of paths and HostName, as ssh_config(5) lists them. */
function expand(value: string, t: { host: string; original: string; port: number; user: string }): string {
  return tilde(
    value.replace(/%(.)/g, (all, c: string) => {
      const v: Record<string, string> = {
        '%': '%',
        h: t.host,
        n: t.original,
        p: String(t.port),
        r: t.user,
        u: userInfo().username,
        d: homedir(),
        i: String(userInfo().uid),
      };
      return v[c] ?? all;
    }),
  );
}

/** What the files give this host: every block that applies, in order, the first value of each keyword winning. */
export function resolveSshOptions(config: SshConfig, t: Target): SshOptions {
  const first = new Map<string, Line>();
  const identityFiles: Line[] = [];
  const certificateFiles: Line[] = [];
  const unsupported: string[] = [];
  const seen = new Set<string>();
  for (const block of config.blocks) {
    const host = first.get('hostname')?.args[0] ?? t.original;
    const holds = (b: Block) =>
      b.kind === 'host' ? matchesPatterns(t.original, b.args) : matchHolds(b, host, t, t.user ?? first.get('user')?.args[0]);
    if (!block.parents.every(holds) || !holds(block)) continue;
    for (const line of block.lines) {
      if (line.keyword === 'identityfile') identityFiles.push(line);
      else if (line.keyword === 'certificatefile') certificateFiles.push(line);
      else if (USED.has(line.keyword)) {
        if (!first.has(line.keyword)) first.set(line.keyword, line);
      } else if (CANNOT.has(line.keyword) && !/^(none|no)$/i.test(line.args[0] ?? '') && !seen.has(line.keyword)) {
        // (the first value wins here too: a ProxyCommand none before a ProxyCommand is none)
        seen.add(line.keyword);
        unsupported.push(`${line.keyword} (${line.where})`);
      } else if (CANNOT.has(line.keyword)) seen.add(line.keyword);
    }
  }
  const value = (k: string) => first.get(k)?.args[0];
  const port = value('port') ? Number(value('port')) : undefined;
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536))
    throw new UsageError(`${first.get('port')!.where}: Port ${value('port')} is not a TCP port`);
  const user = t.user ?? value('user');
  const tokens = { host: value('hostname') ?? t.original, original: t.original, port: port ?? 22, user: user ?? 'root' };
  const paths = (lines: Line[]) =>
    lines
      .flatMap((l) => l.args)
      .filter((a) => a.toLowerCase() !== 'none')
      .map((a) => resolve(expand(a, tokens)));
  const timeout = value('connecttimeout');
  return {
    hostName: value('hostname') === undefined ? undefined : expand(value('hostname')!, { ...tokens, host: t.original }),
    user: value('user'),
    port,
    identityFiles: paths(identityFiles),
    certificateFiles: paths(certificateFiles),
    identitiesOnly: value('identitiesonly') === undefined ? undefined : /^yes$/i.test(value('identitiesonly')!),
    proxyJump: value('proxyjump'),
    userKnownHostsFiles: first.has('userknownhostsfile') ? paths([first.get('userknownhostsfile')!]) : undefined,
    globalKnownHostsFiles: first.has('globalknownhostsfile') ? paths([first.get('globalknownhostsfile')!]) : undefined,
    strictHostKeyChecking: value('stricthostkeychecking')?.toLowerCase(),
    connectTimeoutMs: timeout && Number(timeout) > 0 ? Number(timeout) * 1000 : undefined,
    hostKeyAlias: value('hostkeyalias'),
    unsupported,
  };
}

/** The files ssh reads: `-F` alone, or the user's then the system's. */
export function sshConfigFiles(explicit?: string): string[] {
  return explicit ? [explicit] : ['~/.ssh/config', '/etc/ssh/ssh_config'];
}
