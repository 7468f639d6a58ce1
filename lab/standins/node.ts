// A lab node's main process (in its own PID and mount namespaces, started by `unshare` under tini, the node's PID 1,
// which reaps orphans and passes signals on): bind-mounts the node's tree over kubeadm's paths so that every process
// of the node sees its own files, then runs sshd and the kubelet stand-in. When it exits, tini exits with it and the
// kernel ends every process of the node and drops its mounts.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { log } from './flags.js';
import { Kubelet, KubeletConfig } from './kubelet.js';
import { Unit } from './units.js';
import { parseEnvironmentFile } from '../../src/util/env-file.js';

/** Where a unit answers once it is ready: etcd's client URL from /etc/etcd.env. */
function readyAddress(unit: string): { host: string; port: number } | undefined {
  if (unit !== 'etcd' || !existsSync('/etc/etcd.env')) return undefined;
  const url = parseEnvironmentFile(readFileSync('/etc/etcd.env', 'utf8')).get('ETCD_ADVERTISE_CLIENT_URLS')?.split(',')[0];
  if (!url) return undefined;
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 2379) };
}

export interface NodeConfig {
  labId: string;
  name: string;
  address: string;
  /** [source on the host, target inside the node] */
  mounts: [string, string][];
  sshdConfig: string;
  logDir: string;
  kubelet: KubeletConfig;
  /** Stop the node when stdin closes (the process that started the lab is gone). */
  exitWithStdin: boolean;
  /** Only sshd: no kubelet stand-in, so no pods (benchmarks of reading many nodes). */
  sshOnly?: boolean;
  /** The node's own /etc: an overlay on the machine's (writes land in `upper`), for files such as /etc/etcd.env. */
  privateEtc?: { upper: string; work: string };
  /** systemd services the node runs besides the kubelet (units.ts): etcd on a Kubespray-style node. */
  units?: string[];
}

export async function runNode(argv: string[]): Promise<void> {
  const configPath = argv[argv.indexOf('--config') + 1];
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as NodeConfig;
  if (config.privateEtc) {
    // first: the bind mounts over files in /etc go on top of it
    const { upper, work } = config.privateEtc;
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=/etc,upperdir=${upper},workdir=${work}`, '/etc']);
  }
  for (const [source, target] of config.mounts) execFileSync('mount', ['--bind', source, target]);
  execFileSync('hostname', [config.name]); // own UTS namespace: the node's name, as on a real machine
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation directory

  let stopping = false;
  let sshd: ChildProcess | undefined;
  const startSshd = () => {
    const out = openSync(join(config.logDir, 'sshd.log'), 'a');
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config.sshdConfig], { stdio: ['ignore', out, out] });
    closeSync(out);
    sshd.on('exit', (code, signal) => {
      if (stopping) return;
      log('node', `sshd exited (code ${code}, signal ${signal}); restarting in 1 s`);
      setTimeout(startSshd, 1000);
    });
  };
  startSshd();

  const units = (config.units ?? []).map((unit) => new Unit(unit, config.logDir, () => readyAddress(unit)));
  for (const unit of units) unit.start();
  const kubelet = config.sshOnly ? undefined : new Kubelet(config.kubelet);
  await kubelet?.start();
  log('node', `${config.name} up on ${config.address}`);

  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log('node', `stopping: ${why}`);
    sshd?.kill('SIGTERM');
    await kubelet?.stop();
    await Promise.all(units.map((u) => u.stop()));
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  if (config.exitWithStdin) {
    process.stdin.on('end', () => void shutdown('the lab process is gone (stdin closed)'));
    process.stdin.on('error', () => void shutdown('stdin error'));
    process.stdin.resume();
  }
}
