// Real clients against the running lab: kubectl (/usr/bin/kubectl) and etcdctl, by PID-less execFile with timeouts.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { LabNode } from '../../lab/lab.js';
import { execFileAsync } from './processes.js';

export const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Why the lab tests cannot run here, or false. */
export function labSkipReason(): string | false {
  if (process.getuid?.() !== 0) return 'the lab needs root (namespaces and bind mounts): run the tests as root';
  for (const cmd of ['unshare', 'nsenter', 'etcd', 'etcdctl', 'ssh', 'ssh-keygen', 'ss'])
    if (!have(cmd)) return `${cmd} is not installed (.ci/run installs it)`;
  if (spawnSync('test', ['-x', '/usr/sbin/sshd']).status !== 0) return 'openssh-server is not installed (.ci/run installs it)';
  if (!have('kubectl')) return 'kubectl is not installed';
  return false;
}

export interface Run {
  code: number;
  /** stdout and stderr together, for messages */
  out: string;
  /** stdout alone, for parsing */
  stdout: string;
}

async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileAsync(cmd, args, { timeout: 30_000, env });
    return { code: 0, out: stdout + stderr, stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: (e.stdout ?? '') + (e.stderr ?? ''), stdout: e.stdout ?? '' };
  }
}

/** kubectl with a node's kubeconfig, optionally against one node's address instead of the kubeconfig's server. */
export function kubectl(kubeconfig: string, args: string[], server?: string): Promise<Run> {
  return run('kubectl', ['--kubeconfig', kubeconfig, '--request-timeout=5s', ...(server ? ['--server', server] : []), ...args]);
}

/**
 * etcdctl with a node's healthcheck-client certificate, or on a Kubespray-style node (etcd.service) its
 * admin-<host>.pem (etcdctl 3.4 prints health results on stderr).
 */
export function etcdctl(node: LabNode, endpoints: string[], args: string[]): Promise<Run> {
  const pki = node.path('/etc/kubernetes/pki/etcd');
  const ssl = node.path('/etc/ssl/etcd/ssl');
  const files = existsSync(`${ssl}/ca.pem`)
    ? [`${ssl}/ca.pem`, `${ssl}/admin-${node.name}.pem`, `${ssl}/admin-${node.name}-key.pem`]
    : [`${pki}/ca.crt`, `${pki}/healthcheck-client.crt`, `${pki}/healthcheck-client.key`];
  return run(
    'etcdctl',
    [
      `--endpoints=${endpoints.join(',')}`,
      `--cacert=${files[0]}`,
      `--cert=${files[1]}`,
      `--key=${files[2]}`,
      '--dial-timeout=2s',
      '--command-timeout=4s',
      ...args,
    ],
    { ...process.env, ETCDCTL_API: '3' },
  );
}

export const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

export const apiUrl = (node: LabNode) => `https://${node.address}:6443`;

/** Polls until probe() holds; the error says what was awaited and what was last seen. */
export async function eventually<T>(what: string, probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < end) {
    last = await probe();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 1500)}`);
}
