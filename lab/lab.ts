// A running kubeadm-like HA cluster on loopback for tests and demos (see lab/README section in the project README).
// Lab.start() writes the node trees, starts every node in its own mount and PID namespace (`unshare`), plus the
// control-plane load balancer, and waits until the cluster is healthy. stop() ends everything by PID.
import { EtcdClient } from './standins/etcd-client.js';
import { clusterObjects } from './cluster-objects.js';
import { ChildProcess, execFile, spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  readlinkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KUBECONFIG_CATALOG, LEAF_CATALOG } from '../src/kubeadm/catalog.js';
import type { KeyAlgorithm } from '../src/pki/keys.js';
import { Check, etcdTls, kubeletPods, nodeHealth, NodeHealth, tcpOpen } from './health.js';
import { childrenOf, descendantsOf, hostPidOf, isAlive, processesOfLab, stopPids } from './processes.js';
import { EXPIRED, reissue, Validity } from './reissue.js';
import { LabLayout, LOGIN_USER, NODE_PATHS, NodeInfo, writeLab } from './setup.js';

const execFileAsync = promisify(execFile);
const PROJECT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const STANDINS_SCRIPT = join(PROJECT, 'dist', 'lab-standins.js');
const STATE_DIR = '/run/kpki-lab';
const ALL_CERTIFICATES = [
  ...LEAF_CATALOG.map((e) => e.name),
  ...KUBECONFIG_CATALOG.filter((e) => e.name !== 'kubelet.conf').map((e) => e.name),
  'kubelet-client',
];

export interface LabOptions {
  controlPlanes?: number;
  workers?: number;
  /** Nodes get 127.0.0.<base+1>...; the load balancer gets 127.0.0.<base>. */
  baseOctet?: number;
  keyAlgorithm?: KeyAlgorithm;
  /** Certificates to make expired before start: "apiserver" (every node that has it), "apiserver@lab-cp2", "all". */
  expired?: string[];
  /** true: nodes stop when this process exits (tests). false: they outlive it (`npm run lab -- up`). */
  attached?: boolean;
  /** How often the kubelet stand-in re-reads the manifests directory. */
  syncMs?: number;
  /** Wait for a healthy cluster before returning (default: yes, unless certificates are expired or sshOnly). */
  waitHealthy?: boolean;
  /** Nodes run only sshd over their tree (no kubelet, no pods): for benchmarks that read many nodes. */
  sshOnly?: boolean;
  /** Every sshd allows TCP forwarding (default: lab-cp2 refuses it, lab-cp3 permits only its port 22). */
  plainSsh?: boolean;
  /** etcd as Kubespray runs it (etcd.service, /etc/etcd.env, /etc/ssl/etcd/ssl) instead of kubeadm's static pod. */
  etcdService?: boolean;
}

interface LabState {
  layout: LabLayout;
  unsharePids: Record<string, number>;
  initPids: Record<string, number>;
  loadBalancerPid: number;
  /** The process an attached lab dies with; a detached lab has none. */
  ownerPid?: number;
}

export class LabNode implements NodeInfo {
  readonly index: number;
  readonly name: string;
  readonly address: string;
  readonly role: NodeInfo['role'];
  readonly dir: string;

  constructor(
    info: NodeInfo,
    private readonly lab: Lab,
  ) {
    ({ index: this.index, name: this.name, address: this.address, role: this.role, dir: this.dir } = info);
  }

  /** Where a path of this node (e.g. /etc/kubernetes/admin.conf) lives on the host. */
  path(nodePath: string): string {
    return join(this.dir, 'root', nodePath);
  }

  /** What a static pod of this node printed (its log file in the node's directory; empty when it has none yet). */
  podLog(component: string): string {
    try {
      return readFileSync(join(this.dir, 'logs', `${component}-${this.name}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  read(nodePath: string): Buffer {
    return readFileSync(this.path(this.resolve(nodePath)));
  }

  /** A node path with its symlinks followed inside the node's tree (an absolute link target is a node path). */
  resolve(nodePath: string): string {
    let current = nodePath;
    for (let hops = 0; hops < 16; hops++) {
      const st = lstatSync(this.path(current), { throwIfNoEntry: false });
      if (!st?.isSymbolicLink()) return current;
      const target = readlinkSync(this.path(current));
      current = target.startsWith('/') ? target : posix.join(posix.dirname(current), target);
    }
    throw new Error(`${this.name}:${nodePath}: too many symlinks`);
  }

  get initPid(): number {
    return this.lab.state.initPids[this.name];
  }

  pods() {
    return kubeletPods(this);
  }

  /** Host PID of a static pod's process (e.g. "etcd"), from the kubelet stand-in's report. */
  podPid(component: string): number | undefined {
    const pod = this.pods().find((p) => p.name === `${component}-${this.name}`) as { pid?: number } | undefined;
    return pod?.pid === undefined ? undefined : hostPidOf(this.initPid, pod.pid);
  }

  /** kubeadm's documented restart: move the manifest out of the manifests directory ... */
  parkManifest(component: string): void {
    mkdirSync(this.path('/etc/kubernetes/lab-parked'), { recursive: true });
    renameSync(this.path(`/etc/kubernetes/manifests/${component}.yaml`), this.path(`/etc/kubernetes/lab-parked/${component}.yaml`));
  }

  /** ... and back. */
  unparkManifest(component: string): void {
    renameSync(this.path(`/etc/kubernetes/lab-parked/${component}.yaml`), this.path(`/etc/kubernetes/manifests/${component}.yaml`));
  }

  async waitPod(component: string, want: 'running' | 'gone', timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const pod = this.pods().find((p) => p.name === `${component}-${this.name}`);
      if (want === 'gone' ? pod === undefined : pod?.state === 'running') return;
      if (Date.now() > end) throw new Error(`${this.name}: ${component} not ${want} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops the static pod through its manifest and starts it again (what kubeadm documents as a restart). */
  async restartPod(component: string): Promise<void> {
    this.parkManifest(component);
    await this.waitPod(component, 'gone');
    this.unparkManifest(component);
    await this.waitPod(component, 'running');
  }

  /** Re-signs certificates of this node with the cluster CA and the given dates (default: expired yesterday). */
  async reissue(names: string[] | 'all', validity: Validity = EXPIRED()): Promise<void> {
    const caRoot = join(this.lab.controlPlanes[0].dir, 'root');
    for (const name of names === 'all' ? ALL_CERTIFICATES : names) {
      if (names !== 'all' || hasCertificate(this, name)) await reissue(join(this.dir, 'root'), caRoot, name, validity);
    }
  }

  /** Every static pod stopped (manifests out) and started again, at once: what a node reboot does to them. */
  async restartAllPods(): Promise<void> {
    const pods = readdirSync(this.path('/etc/kubernetes/manifests')).map((f) => f.replace(/\.yaml$/, ''));
    for (const pod of pods) this.parkManifest(pod);
    await Promise.all(pods.map((pod) => this.waitPod(pod, 'gone')));
    for (const pod of pods) this.unparkManifest(pod);
    await Promise.all(pods.map((pod) => this.waitPod(pod, 'running')));
  }

  health(): Promise<NodeHealth> {
    return nodeHealth(this, this.lab.adminKubeconfig, this.lab.endpointUrl);
  }
}

function hasCertificate(node: LabNode, name: string): boolean {
  if (name === 'kubelet-client')
    return lstatSync(node.path('/var/lib/kubelet/pki/kubelet-client-current.pem'), { throwIfNoEntry: false }) !== undefined; // a symlink to a node path
  return (
    existsSync(node.path(`/etc/kubernetes/pki/${name.replace(/^etcd-/, 'etcd/')}.crt`)) || existsSync(node.path(`/etc/kubernetes/${name}`))
  );
}

function readState(path: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

function statePath(baseOctet: number): string {
  return join(STATE_DIR, `lab-${baseOctet}.json`);
}

/** Stops whatever a previous (crashed or detached) lab on these addresses left, by the PIDs it recorded. */
async function cleanUpStale(baseOctet: number): Promise<void> {
  const state = readState(statePath(baseOctet));
  if (!state) return;
  // An attached lab whose owner still runs is in use, not stale (two test files must not share addresses).
  if (state.ownerPid && state.ownerPid !== process.pid && isAlive(state.ownerPid))
    throw new Error(`a lab on 127.0.0.${baseOctet}-${baseOctet + 4} is in use by process ${state.ownerPid}: choose other addresses`);
  const recorded = [...Object.values(state.unsharePids), ...Object.values(state.initPids), state.loadBalancerPid];
  // Only PIDs that still run this lab's command lines: a recycled PID belongs to someone else.
  const pids = [
    ...new Set([...recorded.filter((pid) => processesOfLab(state.layout.id).includes(pid)), ...processesOfLab(state.layout.id)]),
  ];
  await stopPids(pids, 12_000);
  removeFiles(state);
}

function removeFiles(state: LabState): void {
  rmSync(state.layout.dir, { recursive: true, force: true });
  rmSync(statePath(state.layout.baseOctet), { force: true });
  removeMountpointsIfLast();
}

// Mountpoints the labs created on the host (/etc/kubernetes, ...), shared by every lab on the machine. Removed only by
// the last lab to stop: removing one under a running lab would detach that lab's bind mounts.
const MOUNTPOINTS_FILE = join(STATE_DIR, 'mountpoints.json');

function createMountpoints(): void {
  const created: string[] = existsSync(MOUNTPOINTS_FILE) ? JSON.parse(readFileSync(MOUNTPOINTS_FILE, 'utf8')) : [];
  for (const path of NODE_PATHS.filter((p) => !existsSync(p))) {
    mkdirSync(path, { recursive: true, mode: 0o755 });
    created.push(path);
  }
  writeFileSync(MOUNTPOINTS_FILE, JSON.stringify([...new Set(created)]));
}

function removeMountpointsIfLast(): void {
  if (!existsSync(MOUNTPOINTS_FILE) || readdirSync(STATE_DIR).some((f) => /^lab-\d+\.json$/.test(f))) return;
  for (const dir of JSON.parse(readFileSync(MOUNTPOINTS_FILE, 'utf8')) as string[]) {
    try {
      rmdirSync(dir); // only if still empty
    } catch {
      /* not empty or gone: leave it */
    }
  }
  rmSync(MOUNTPOINTS_FILE, { force: true });
}

const TINI = '/usr/bin/tini';

/** Zombie processes (exited, never waited for) in a node: its init reaps them. */
export function zombiesOf(node: LabNode): number[] {
  return descendantsOf(node.initPid).filter((pid) => {
    try {
      return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  });
}

export class Lab {
  readonly nodes: LabNode[];
  private readonly children: ChildProcess[] = [];

  private constructor(readonly state: LabState) {
    this.nodes = state.layout.nodes.map((n) => new LabNode(n, this));
  }

  get id(): string {
    return this.state.layout.id;
  }
  get dir(): string {
    return this.state.layout.dir;
  }
  get controlPlanes(): LabNode[] {
    return this.nodes.filter((n) => n.role === 'control-plane');
  }
  get workers(): LabNode[] {
    return this.nodes.filter((n) => n.role === 'worker');
  }
  get endpointUrl(): string {
    return `https://${this.state.layout.endpoint.address}:${this.state.layout.endpoint.port}`;
  }
  /** The admin kubeconfig of the first control-plane node (its server is the load balancer). */
  get adminKubeconfig(): string {
    return this.controlPlanes[0].path('/etc/kubernetes/admin.conf');
  }

  /** node(2) is the second node (1-based, control planes first), node("lab-w1") by name. */
  node(ref: number | string): LabNode {
    const node = typeof ref === 'number' ? this.nodes[ref - 1] : this.nodes.find((n) => n.name === ref);
    if (!node) throw new Error(`no lab node ${ref}`);
    return node;
  }

  static async start(options: LabOptions = {}): Promise<Lab> {
    if (process.getuid?.() !== 0) throw new Error('the lab needs root (mount and PID namespaces, bind mounts)');
    if (!existsSync(STANDINS_SCRIPT)) throw new Error(`${STANDINS_SCRIPT} is missing: run \`npm run build\` first`);
    const baseOctet = options.baseOctet ?? 10;
    const attached = options.attached ?? true;
    await cleanUpStale(baseOctet);
    mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });

    const dir = mkdtempSync(join(tmpdir(), 'kpki-lab-'));
    const id = dir
      .slice(-6)
      .toLowerCase()
      .replace(/[^a-z0-9]/g, 'x');
    const state: LabState = {
      layout: undefined as unknown as LabLayout,
      unsharePids: {},
      initPids: {},
      loadBalancerPid: 0,
      ...(attached ? { ownerPid: process.pid } : {}),
    };
    writeFileSync(statePath(baseOctet), JSON.stringify({ ...state, layout: { id, dir, baseOctet, nodes: [] } }));
    let lab: Lab | undefined;
    try {
      state.layout = await writeLab(dir, id, {
        controlPlanes: options.controlPlanes ?? 3,
        workers: options.workers ?? 1,
        baseOctet,
        keyAlgorithm: options.keyAlgorithm ?? 'ECDSA-P256',
        syncMs: options.syncMs ?? 1000,
        exitWithStdin: attached,
        standinsScript: STANDINS_SCRIPT,
        sshOnly: options.sshOnly,
        plainSsh: options.plainSsh,
        etcdService: options.etcdService,
      });
      lab = new Lab(state);
      await lab.ensureAddressesFree();
      for (const spec of (options.expired ?? []).flatMap((e) => (e === 'all' ? ALL_CERTIFICATES : [e]))) {
        const [name, nodeName] = spec.split('@');
        for (const node of lab.nodes.filter((n) => !nodeName || n.name === nodeName)) {
          if (hasCertificate(node, name)) await node.reissue([name]);
        }
      }
      createMountpoints();
      lab.spawnAll(attached);
      writeFileSync(statePath(baseOctet), JSON.stringify(state, null, 2));
      await lab.waitForInitPids();
      writeFileSync(statePath(baseOctet), JSON.stringify(state, null, 2));
      if (options.waitHealthy ?? ((options.expired ?? []).length === 0 && !options.sshOnly)) {
        await lab.waitHealthy();
        await lab.uploadKubeadmConfig();
      }
      return lab;
    } catch (err) {
      if (lab) await lab.stop().catch(() => undefined);
      else removeFiles({ ...state, layout: { id, dir, baseOctet } as LabLayout });
      throw err;
    }
  }

  /**
   * What `kubeadm init` uploads: the kubeadm-config ConfigMap in kube-system holding the ClusterConfiguration (the
   * names kubeadm puts in the apiserver certificate beyond its defaults live in apiServer.certSANs). Written into etcd
   * as kube-apiserver stores it; kpki reads and updates it through the API. Also the other objects a kubeadm cluster
   * holds (cluster-objects.ts).
   */
  async uploadKubeadmConfig(): Promise<void> {
    const cp = this.controlPlanes[0];
    const tls = etcdTls(cp, 'apiserver');
    const kubespray = existsSync(cp.path('/etc/ssl/etcd/ssl/ca.pem'));
    const etcdConfig = kubespray
      ? [
          '  external:',
          `    caFile: /etc/ssl/etcd/ssl/ca.pem`,
          `    certFile: /etc/ssl/etcd/ssl/node-${cp.name}.pem`,
          '    endpoints:',
          ...this.controlPlanes.map((n) => `    - https://${n.address}:2379`),
          `    keyFile: /etc/ssl/etcd/ssl/node-${cp.name}-key.pem`,
        ]
      : ['  local:', '    dataDir: /var/lib/etcd'];
    const { address, port } = this.state.layout.endpoint;
    const clusterConfiguration = [
      'apiServer:',
      '  extraArgs:',
      '    authorization-mode: Node,RBAC',
      'apiVersion: kubeadm.k8s.io/v1beta3',
      'certificatesDir: /etc/kubernetes/pki',
      'clusterName: kubernetes',
      `controlPlaneEndpoint: ${address}:${port}`,
      'controllerManager: {}',
      'dns: {}',
      'etcd:',
      ...etcdConfig,
      'imageRepository: registry.k8s.io',
      'kind: ClusterConfiguration',
      'kubernetesVersion: v1.29.0',
      'networking:',
      '  dnsDomain: cluster.local',
      '  serviceSubnet: 10.96.0.0/12',
      'scheduler: {}',
      '',
    ].join('\n');
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'kubeadm-config', namespace: 'kube-system' },
      data: { ClusterConfiguration: clusterConfiguration },
    };
    const etcd = new EtcdClient(`https://${cp.address}:2379`, tls, 5000);
    await etcd.put('/registry/configmaps/kube-system/kubeadm-config', JSON.stringify(cm));
    const objects = clusterObjects({
      caPem: cp.read('/etc/kubernetes/pki/ca.crt').toString(),
      endpoint: `${address}:${port}`,
      nodes: this.nodes.map((n) => n.name),
    });
    for (const [key, object] of objects) await etcd.put(key, JSON.stringify(object));
  }

  /** The lab a detached `npm run lab -- up` left running. */
  static attach(baseOctet = 10): Lab | undefined {
    const state = readState(statePath(baseOctet));
    return state?.layout?.nodes?.length ? new Lab(state) : undefined;
  }

  /** Nothing may already listen on the lab's addresses (another lab, a leftover of an unknown kind). */
  private async ensureAddressesFree(): Promise<void> {
    const targets: [string, number][] = [
      [this.state.layout.endpoint.address, 6443],
      ...this.nodes.flatMap((n): [string, number][] => [
        [n.address, 22],
        [n.address, 6443],
        [n.address, 2379],
      ]),
    ];
    const busy = (await Promise.all(targets.map(async ([h, p]) => ((await tcpOpen(h, p, 300)).ok ? `${h}:${p}` : '')))).filter(Boolean);
    if (busy.length > 0) throw new Error(`lab addresses already in use: ${busy.join(', ')} (another lab? try \`npm run lab -- down\`)`);
  }

  private spawnAll(attached: boolean): void {
    const stdio = (log: string): ['pipe' | 'ignore', number, number] => {
      const fd = openSync(log, 'a');
      return [attached ? 'pipe' : 'ignore', fd, fd];
    };
    const start = (command: string, args: string[], log: string): ChildProcess => {
      const io = stdio(log);
      const child = spawn(command, args, { stdio: io, detached: !attached });
      closeSync(io[1]);
      if (!attached) child.unref();
      this.children.push(child);
      return child;
    };
    for (const node of this.nodes) {
      const child = start(
        'unshare',
        [
          '--mount',
          '--propagation',
          'private',
          '--uts',
          '--pid',
          '--fork',
          '--mount-proc',
          '--kill-child',
          '--',
          // PID 1 of the node: tini reaps what is orphaned there (sshd's session processes), as a node's init does,
          // and passes TERM on to the stand-in; without it they stayed as zombies until the lab stopped
          ...(existsSync(TINI) ? [TINI, '--'] : []),
          process.execPath,
          STANDINS_SCRIPT,
          'node',
          '--config',
          join(node.dir, 'node.json'),
          '--lab-id',
          this.id,
        ],
        join(node.dir, 'logs', 'node.log'),
      );
      this.state.unsharePids[node.name] = child.pid!;
    }
    const { address, port } = this.state.layout.endpoint;
    const backends = this.controlPlanes.map((n) => `${n.address}:6443`).join(',');
    const lb = start(
      process.execPath,
      [
        STANDINS_SCRIPT,
        'load-balancer',
        `--listen=${address}:${port}`,
        `--backends=${backends}`,
        ...(attached ? ['--exit-with-stdin'] : []),
        '--lab-id',
        this.id,
      ],
      join(this.dir, 'load-balancer.log'),
    );
    this.state.loadBalancerPid = lb.pid!;
  }

  private async waitForInitPids(): Promise<void> {
    const end = Date.now() + 10_000;
    for (const node of this.nodes) {
      const unsharePid = this.state.unsharePids[node.name];
      for (;;) {
        const [init] = childrenOf(unsharePid);
        if (init) {
          this.state.initPids[node.name] = init;
          break;
        }
        if (!isAlive(unsharePid) || Date.now() > end) throw new Error(`${node.name} did not start: ${this.nodeLog(node)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  nodeLog(node: LabNode): string {
    try {
      return readFileSync(join(node.dir, 'logs', 'node.log'), 'utf8').slice(-3000);
    } catch {
      return '(no log)';
    }
  }

  async health(): Promise<NodeHealth[]> {
    return Promise.all(this.nodes.map((n) => n.health()));
  }

  /** Waits until every check of every node passes; the error lists what still fails. */
  async waitHealthy(timeoutMs = 60_000, nodes: LabNode[] = this.nodes): Promise<void> {
    const end = Date.now() + timeoutMs;
    let failing: string[] = [];
    while (Date.now() < end) {
      const health = await Promise.all(nodes.map((n) => n.health()));
      failing = health.flatMap((h) =>
        Object.entries(h.checks)
          .filter(([, c]) => !c.ok)
          .map(([k, c]: [string, Check]) => `${h.node} ${k}: ${c.detail}`),
      );
      if (failing.length === 0) return;
      for (const node of nodes)
        if (!isAlive(this.state.unsharePids[node.name])) throw new Error(`${node.name} exited: ${this.nodeLog(node)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`lab not healthy after ${timeoutMs} ms:\n  ${failing.join('\n  ')}`);
  }

  /** Every host PID of the lab: unshare, the nodes' processes, the load balancer. */
  pids(): number[] {
    const roots = [...Object.values(this.state.unsharePids), this.state.loadBalancerPid].filter(isAlive);
    return [...new Set(roots.flatMap((pid) => [pid, ...descendantsOf(pid)]))];
  }

  /** Sockets of lab processes whose local or peer address is outside 127.0.0.0/8 (should be none). */
  async nonLoopbackSockets(): Promise<string[]> {
    const pids = new Set(this.pids());
    const { stdout } = await execFileAsync('ss', ['-tunapH']);
    const loopback = (addr: string) => /^(127\.\d+\.\d+\.\d+|\[::1\]|\[::ffff:127\.\d+\.\d+\.\d+\]):/.test(addr);
    return stdout.split('\n').filter((line) => {
      const owners = [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
      if (!owners.some((p) => pids.has(p))) return false;
      const [, , , , local, peer] = line.trim().split(/\s+/);
      return !loopback(local) || !(peer === '*:*' || peer === '0.0.0.0:*' || loopback(peer));
    });
  }

  /** Runs a command on a node over SSH (real sshd in the node's namespace, real OpenSSH client, pinned host key). */
  async ssh(
    ref: number | string | LabNode,
    command: string,
    timeoutMs = 20_000,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const node = ref instanceof LabNode ? ref : this.node(ref);
    const args = [
      '-F',
      '/dev/null',
      '-i',
      this.state.layout.sshKey,
      '-o',
      `UserKnownHostsFile=${this.state.layout.knownHosts}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'ConnectTimeout=5',
      `root@${node.address}`,
      command,
    ];
    try {
      const { stdout, stderr } = await execFileAsync('ssh', args, { timeout: timeoutMs, maxBuffer: 16 << 20 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 255, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
    }
  }

  /** Runs a program inside a node's mount namespace (what a process on that node sees), without SSH. */
  async exec(
    ref: number | string | LabNode,
    argv: string[],
    timeoutMs = 60_000,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const node = ref instanceof LabNode ? ref : this.node(ref);
    try {
      const { stdout, stderr } = await execFileAsync('nsenter', ['-t', String(node.initPid), '-m', '-u', '--', ...argv], {
        timeout: timeoutMs,
        maxBuffer: 16 << 20,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
    }
  }

  /**
   * A kpki inventory of this lab (the lab's key, host keys pinned in the lab's known_hosts): root on the control-plane
   * nodes, the login user with sudo on workers, as operators reach cloud nodes.
   */
  writeInventory(path = join(this.dir, 'inventory.yaml')): string {
    const login = (n: LabNode) => (n.role === 'worker' ? `, user: ${LOGIN_USER.name}, sudo: true` : '');
    const nodes = this.nodes.map((n) => `  - { name: ${n.name}, address: ${n.address}, role: ${n.role}${login(n)} }`).join('\n');
    writeFileSync(
      path,
      `# the kpki lab ${this.id}\ndefaults:\n  user: root\n  key: ${this.sshKey}\n  knownHosts: ${this.knownHosts}\nnodes:\n${nodes}\n`,
    );
    return path;
  }

  get sshKey(): string {
    return this.state.layout.sshKey;
  }
  get knownHosts(): string {
    return this.state.layout.knownHosts;
  }
  /** The SSH CA every node's sshd trusts for user certificates (private key; its .pub beside it). */
  get userCa(): string {
    return this.state.layout.userCa;
  }

  /** Stops every node in parallel (TERM, KILL after 15 s), the load balancer, and removes the lab's files. */
  async stop(): Promise<void> {
    const inits = Object.values(this.state.initPids).filter(isAlive);
    const others = [...Object.values(this.state.unsharePids), this.state.loadBalancerPid].filter((p) => p && isAlive(p));
    await stopPids(inits, 15_000); // each node stops its pods (etcd gracefully) and exits; its namespace goes with it
    await stopPids([...others, ...processesOfLab(this.id)], 5_000);
    for (const child of this.children) child.stdin?.destroy();
    removeFiles(this.state);
  }
}
