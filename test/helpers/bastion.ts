// A bastion host for the lab's tests: a real sshd of its own on a loopback address and in its own mount namespace,
// that allows TCP forwarding (a jump host must; the lab's nodes, hardened, do not). Started by PID, stopped by PID.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTracked, stopTracked, waitFor } from './processes.js';

export interface Bastion {
  address: string;
  /** Its host key as a known_hosts line. */
  knownHostsLine: string;
  stop(): Promise<void>;
}

export async function startBastion(o: { address: string; dir: string; authorizedKeys: string }): Promise<Bastion> {
  if (!/^127\./.test(o.address)) throw new Error(`a bastion on ${o.address}: loopback only`);
  rmSync(o.dir, { recursive: true, force: true }); // (a bastion of an earlier test: new host key, new config)
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const hostKey = join(o.dir, 'ssh_host_ed25519_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kpki-test-bastion', '-f', hostKey]);
  const config = join(o.dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `ListenAddress ${o.address}:22`,
      `HostKey ${hostKey}`,
      `PidFile ${join(o.dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${o.authorizedKeys}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'AllowTcpForwarding yes',
      '',
    ].join('\n'),
  );
  mkdirSync('/run/sshd', { recursive: true });
  const child = startTracked('unshare', ['--mount', '--propagation', 'private', '/usr/sbin/sshd', '-D', '-e', '-f', config]);
  const listening = () => execFileSync('ss', ['-Htln', `src ${o.address}:22`], { encoding: 'utf8' }).includes(`${o.address}:22`);
  await waitFor(`the bastion's sshd on ${o.address}:22`, async () => listening());
  const [type, key] = readFileSync(`${hostKey}.pub`, 'utf8').split(' ');
  return { address: o.address, knownHostsLine: `${o.address} ${type} ${key}`, stop: () => stopTracked(child) };
}
