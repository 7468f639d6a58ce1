// Connecting to a node over SSH as the operator's ssh would: through its jump hosts (ProxyJump, one hop after the
// other), each host key checked against the known_hosts files (an unknown or changed key stops here), and the keys
// offered in ssh's order: a certificate before its key, the agent unless IdentitiesOnly, the identities given or
// ssh's defaults, then a password.
import { appendFileSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { AnyAuthMethod as AuthMethod, Client } from 'ssh2';
import { KpkiError, UsageError } from '../errors.js';
import { readRegularFile, readRegularText } from '../util/read-file.js';
import { checkHostKey, knownHostsName } from './known-hosts.js';
import { allowCertificates, certificateKey, certifies, loadSsh2Utils, parseCertificateLine, Ssh2Utils } from './ssh-certificates.js';

/** One hop on the way (OpenSSH's ProxyJump); its host key is checked like the node's. `via`: the hop before it. */
export interface SshJump {
  address: string;
  port: number;
  user: string;
  keyFile?: string;
  keyFiles?: string[];
  hostKeyAlias?: string;
  via?: SshJump;
}

export interface SshTarget {
  name: string;
  address: string;
  port: number;
  user: string;
  /** Private key file on the operator's machine (the inventory's); without one, the SSH config's or ssh's defaults. */
  keyFile?: string;
  /** IdentityFile of the SSH config, tried in order (a missing one is skipped, as ssh does). */
  keyFiles?: string[];
  /** CertificateFile of the SSH config; a key's "<key>-cert.pub" is offered too, as ssh does. */
  certificateFiles?: string[];
  /** Only the identities given, not every key of the agent. */
  identitiesOnly?: boolean;
  password?: string;
  /** Files and programs as root through `sudo -n` (SFTP runs as `sudo -n sftp-server`). */
  sudo: boolean;
  knownHostsFile: string;
  /** Checked too, never written (the rest of UserKnownHostsFile, GlobalKnownHostsFile). */
  moreKnownHosts?: string[];
  /** The name the host key is recorded under (HostKeyAlias), instead of the address. */
  hostKeyAlias?: string;
  acceptNewHostKeys: boolean;
  timeoutMs: number;
  jump?: SshJump;
  /** Sessions kpki opens at most on the connection before sshd says otherwise (MaxSessions; default 10). */
  maxSessions?: number;
}

export class HostKeyError extends KpkiError {}

type Ssh2 = typeof import('ssh2');

export async function loadSsh2(): Promise<Ssh2> {
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

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

interface Identities {
  user: string;
  /** The inventory's key: must be readable (a usage error otherwise), and the agent is not asked. */
  keyFile?: string;
  keyFiles?: string[];
  certificateFiles?: string[];
  identitiesOnly?: boolean;
  password?: string;
}

/** What ssh would offer, in its order; certificates need ssh2's request patched (`certificates` is set then). */
function authMethods(ssh2: Ssh2, o: Identities): { methods: AuthMethod[]; certificates: boolean; offered: string[] } {
  const methods: AuthMethod[] = [];
  const offered: string[] = [];
  const given = o.keyFile ? [o.keyFile] : (o.keyFiles ?? []);
  const files = given.length ? given : DEFAULT_IDENTITIES.map((f) => join(homedir(), '.ssh', f));
  if (!o.keyFile && !o.identitiesOnly && process.env.SSH_AUTH_SOCK)
    methods.push({ type: 'agent', username: o.user, agent: process.env.SSH_AUTH_SOCK });
  const certs = (o.certificateFiles ?? []).flatMap((f) => readCertificate(f, true));
  let certificates = false;
  for (const file of files) {
    let text: Buffer;
    try {
      text = readRegularFile(file);
    } catch (err) {
      if (o.keyFile) throw new UsageError(`cannot read the SSH key ${file}: ${(err as Error).message}`);
      continue;
    }
    const parsed = ssh2.utils.parseKey(text);
    if (parsed instanceof Error || Array.isArray(parsed)) {
      // an encrypted key needs its passphrase: OpenSSH would ask; kpki leaves it to the agent
      const message = parsed instanceof Error ? parsed.message : 'several keys in one file';
      if (o.keyFile)
        throw new UsageError(`the SSH key ${file} cannot be used: ${message}${/encrypted/i.test(message) ? ' (add it to ssh-agent)' : ''}`);
      offered.push(`not ${file} (${message}: FIDO and PKCS#11 keys only through ssh-agent)`);
      continue;
    }
    for (const cert of [...certs, ...readCertificate(`${file}-cert.pub`, false)].filter((c) => certifies(c.blob, parsed))) {
      methods.push({ type: 'publickey', username: o.user, key: certificateKey(parsed, cert) as never });
      offered.push(`${file} with its certificate (${cert.type.replace(/-cert-v01@openssh\.com$/, '')})`);
      certificates = true;
    }
    methods.push({ type: 'publickey', username: o.user, key: text });
    offered.push(file);
  }
  if (o.password !== undefined) {
    methods.push({ type: 'password', username: o.user, password: o.password });
    offered.push('a password');
  }
  return { methods, certificates, offered };
}

/** The user certificate of a "-cert.pub" file; a CertificateFile that is missing or not one is an error, as for ssh. */
function readCertificate(file: string, required: boolean): { type: string; blob: Buffer }[] {
  let text: string;
  try {
    text = readRegularText(file);
  } catch (err) {
    if (!required) return [];
    throw new UsageError(`cannot read the SSH certificate ${file} (CertificateFile): ${(err as Error).message}`);
  }
  const cert = parseCertificateLine(text);
  if (!cert && required) throw new UsageError(`${file} (CertificateFile) is not an OpenSSH user certificate kpki can use`);
  return cert ? [cert] : [];
}

interface Step extends Identities {
  name: string;
  address: string;
  port: number;
  hostKeyAlias?: string;
  sock?: Duplex;
}

/** Every known_hosts file's text (a missing one is empty), and the file new keys go to. */
function knownHosts(target: SshTarget): string {
  return [target.knownHostsFile, ...(target.moreKnownHosts ?? [])]
    .map((f) => {
      try {
        return readRegularText(f);
      } catch {
        return '';
      }
    })
    .join('\n');
}

/** One SSH connection, its host key checked against known_hosts. */
function connectOne(ssh2: Ssh2, utils: Ssh2Utils | undefined, step: Step, target: SshTarget): Promise<Client> {
  const client = new ssh2.Client();
  const name = step.hostKeyAlias ?? knownHostsName(step.address, step.port);
  // (the files named in a refusal: the user's, and the others only where they exist)
  const files = [target.knownHostsFile, ...(target.moreKnownHosts ?? []).filter((f) => existsSync(f))].join(', ');
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
    let auth: ReturnType<typeof authMethods>;
    try {
      auth = authMethods(ssh2, step);
    } catch (err) {
      clearTimeout(timer);
      return reject(err);
    }
    client.once('error', (err) => {
      clearTimeout(timer);
      // (which keys went, so the operator sees what sshd refused: ssh -v says as much)
      const tried = /authentication methods failed/.test(err.message)
        ? ` as ${step.user} (offered: ${auth.offered.join(', ') || 'nothing'})`
        : '';
      reject(refusal ? new HostKeyError(refusal, { exitCode: 1 }) : new KpkiError(`${step.name} (${name}): SSH: ${err.message}${tried}`));
    });
    const known = knownHosts(target);
    client.connect({
      host: step.address,
      port: step.port,
      sock: step.sock,
      username: step.user,
      authHandler: auth.methods,
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
            ? `${step.name} (${name}): the host key (${type}) is NOT the one recorded in ${files}: refusing to connect. If the node was reinstalled, remove its old entry (ssh-keygen -R '${name}' -f ${target.knownHostsFile}).`
            : `${step.name} (${name}): unknown host key (${type}), not in ${files}: refusing to connect. Check it and add it (ssh-keyscan), or use --accept-new-host-keys.`;
        return false;
      },
    });
    if (auth.certificates && utils) allowCertificates(client, utils);
    // Without its native binding (the standalone executable) ssh2 writes each packet as three small writes: with
    // Nagle's algorithm every request then waits for the node's delayed ACK (~40 ms a round trip, 20x slower reads).
    client.setNoDelay(true);
  });
}

/** A TCP stream from `through` to address:port (a jump host's direct-tcpip channel). */
function forwardVia(through: Client, hop: string, address: string, port: number, name: string): Promise<Duplex> {
  return new Promise<Duplex>((resolve, reject) =>
    through.forwardOut('127.0.0.1', 0, address, port, (err, stream) =>
      err ? reject(new KpkiError(`${name}: the jump host ${hop} cannot reach ${address}:${port}: ${err.message}`)) : resolve(stream),
    ),
  );
}

/** The hops of a ProxyJump chain, first to last. */
function hopsOf(jump: SshJump | undefined): SshJump[] {
  return jump ? [...hopsOf(jump.via), jump] : [];
}

/** Connects to the node through its jump hosts; `hops` are the jump connections, to close with it. */
export async function connectThrough(target: SshTarget): Promise<{ client: Client; hops: Client[] }> {
  const ssh2 = await loadSsh2();
  const utils = await loadSsh2Utils().catch(() => undefined);
  const hops: Client[] = [];
  try {
    let sock: Duplex | undefined;
    for (const j of hopsOf(target.jump)) {
      const hop = await connectOne(
        ssh2,
        utils,
        {
          name: `jump host ${j.user}@${j.address}`,
          address: j.address,
          port: j.port,
          user: j.user,
          keyFile: j.keyFile,
          keyFiles: j.keyFiles,
          hostKeyAlias: j.hostKeyAlias,
          sock,
        },
        target,
      );
      hops.push(hop);
      const next = hopsOf(target.jump)[hops.length];
      sock = await forwardVia(hop, j.address, next?.address ?? target.address, next?.port ?? target.port, target.name);
    }
    const client = await connectOne(ssh2, utils, { ...target, sock }, target);
    return { client, hops };
  } catch (err) {
    for (const c of hops) c.end();
    throw err;
  }
}
