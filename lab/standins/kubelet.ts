// kubelet stand-in: runs the static pods of /etc/kubernetes/manifests as processes, the way the kubelet does —
// polls the directory, starts new manifests, stops removed ones, restarts changed ones, restarts exited containers
// with back-off, runs startup/liveness/readiness probes from the manifests — and posts its node status to the API
// server with the client certificate of kubelet.conf (re-read every time, as the kubelet's certificate manager does;
// the server's CA from it only at start, as the kubelet builds its client once), and serves the authenticated kubelet
// API on :10250 that kube-apiserver calls (kubelet-api.ts: clientCAFile read at start and on a restart).
// What it does not do: no container runtime or images (a pod's command is run as a process on the node), one
// container per pod, no volumes or cgroups, back-off shortened to 1 s doubling to 10 s (the kubelet: 10 s to 5 min).
import { ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { openSync, readdirSync, readFileSync, renameSync, writeFileSync, existsSync, closeSync, watch, FSWatcher } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { parse } from 'yaml';
import { log } from './flags.js';
import { describeFailure, kubeRequest, loadKubeconfig } from './kube-client.js';
import { HttpProbe, probeFromManifest, runHttpProbe } from './probes.js';
import { realisticNode } from './node-object.js';
import { serveKubeletApi } from './kubelet-api.js';

export interface KubeletConfig {
  nodeName: string;
  address: string;
  role: 'control-plane' | 'worker';
  manifestsDir: string;
  kubeconfig: string;
  statusFile: string;
  logDir: string;
  syncMs: number;
  /** The bundled stand-ins script: kube-apiserver & co. run as `node <script> <component> flags...`. */
  standinsScript: string;
  kubeletVersion: string;
}

type ProbeKind = 'startup' | 'liveness' | 'readiness';

interface Pod {
  name: string;
  file: string;
  hash: string;
  argv: string[];
  env: Record<string, string>;
  probes: Partial<Record<ProbeKind, HttpProbe>>;
  child?: ChildProcess;
  state: 'running' | 'waiting' | 'terminating';
  startedAt: number;
  restarts: number;
  backoffMs: number;
  nextStartAt: number;
  lastExit?: { code: number | null; signal: string | null; at: string };
  started: boolean;
  ready: boolean;
  failures: Record<ProbeKind, number>;
  nextProbeAt: Record<ProbeKind, number>;
  probing: Set<ProbeKind>;
  lastProbe?: string;
  stopped?: Promise<void>;
}

const STANDINS = new Set(['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']);
/** Where the lab's systemctl asks the kubelet stand-in to restart (a node path: each node has its own). */
export const RESTART_REQUEST = '/var/lib/kubelet/kpki-lab-restart-requested';
const STOP_GRACE_MS = 10_000;

export class Kubelet {
  private readonly pods = new Map<string, Pod>();
  private timers: NodeJS.Timeout[] = [];
  private watcher?: FSWatcher;
  private soonTimer?: NodeJS.Timeout;
  private nodeStatus = { registered: false, lastHeartbeat: '', lastError: '' };
  private stopping = false;
  private server?: http.Server;
  /** The authenticated API on :10250 (kubelet-api.ts): its client CA is read when it starts, and on a restart. */
  private api?: http.Server;
  /** Restarts asked for through the lab's systemctl (`systemctl restart kubelet`), and when the last one was. */
  private restarts = { count: 0, last: '' };

  /** The API server's CA from kubelet.conf, read once at start as the kubelet does (a new bundle needs a restart). */
  private serverCa?: Buffer;

  constructor(private readonly config: KubeletConfig) {}

  async start(): Promise<void> {
    this.sync();
    // The kubelet's file source watches the directory (inotify) and also resyncs on a period: a manifest moved out or
    // back is acted on at once, not at the next tick.
    try {
      this.watcher = watch(this.config.manifestsDir, () => this.syncSoon());
    } catch (err) {
      log('kubelet', `not watching ${this.config.manifestsDir} (${(err as Error).message}): resyncing every ${this.config.syncMs} ms`);
    }
    this.timers.push(setInterval(() => void this.restartIfAsked(), 200));
    this.timers.push(setInterval(() => this.sync(), this.config.syncMs));
    this.timers.push(setInterval(() => this.probeAll(), 250));
    this.timers.push(setInterval(() => void this.heartbeat(), 2000));
    void this.heartbeat();
    await this.listen();
  }

  /** /healthz and /pods, on the plain healthz port and (authenticated) on the kubelet API's. */
  private readonly answer = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (req.url === '/healthz') res.writeHead(200).end('ok');
    else if (req.url === '/pods') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.report()));
    else res.writeHead(404).end();
  };

  private async listen(): Promise<void> {
    this.server = http.createServer(this.answer);
    await new Promise<void>((resolve, reject) => this.server!.once('error', reject).listen(10248, this.config.address, () => resolve()));
    try {
      this.api = await serveKubeletApi(this.config.address, this.answer);
    } catch (err) {
      log('kubelet', `not serving the kubelet API on :10250: ${(err as Error).message}`);
    }
  }

  private async closeServers(): Promise<void> {
    const close = (server?: http.Server) =>
      new Promise<void>((resolve) => {
        if (!server) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      });
    await Promise.all([close(this.server), close(this.api)]);
    this.api = undefined;
  }

  /**
   * `systemctl restart kubelet` on a lab node (lab/setup.ts's systemctl) leaves a request file: the kubelet goes away
   * for a moment (its /healthz stops answering, as a restarting kubelet's does), reads its credentials again and comes
   * back. Its static pods keep running, as containers do while a real kubelet restarts.
   */
  private restarting = false;

  private async restartIfAsked(): Promise<void> {
    if (this.stopping || !existsSync(RESTART_REQUEST)) return;
    try {
      renameSync(RESTART_REQUEST, `${RESTART_REQUEST}.taken`);
    } catch {
      return;
    }
    log('kubelet', 'restarting (systemctl restart kubelet)');
    this.restarting = true;
    this.writeStatus();
    await this.closeServers();
    await new Promise((r) => setTimeout(r, 500));
    this.restarts = { count: this.restarts.count + 1, last: new Date().toISOString() };
    this.serverCa = undefined; // kubelet.conf's CA is read again
    await this.listen();
    this.restarting = false;
    this.writeStatus();
    void this.heartbeat();
  }

  /** A sync shortly after a burst of directory events (a write is a create, some writes and a rename). */
  private syncSoon(): void {
    if (this.soonTimer || this.stopping) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined;
      this.sync();
    }, 50);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.timers.forEach(clearInterval);
    this.watcher?.close();
    clearTimeout(this.soonTimer);
    void this.closeServers();
    await Promise.all([...this.pods.values()].map((pod) => this.stopPod(pod)));
    this.writeStatus();
  }

  private podName(manifest: any): string {
    return `${manifest?.metadata?.name ?? 'unnamed'}-${this.config.nodeName}`;
  }

  /** One pass of the kubelet's file source: what the directory says should run. */
  private sync(): void {
    if (this.stopping) return;
    const desired = new Map<string, { file: string; hash: string; manifest: any }>();
    let files: string[] = [];
    try {
      files = existsSync(this.config.manifestsDir) ? readdirSync(this.config.manifestsDir).filter((f) => !f.startsWith('.')) : [];
    } catch (err) {
      log('kubelet', `cannot read ${this.config.manifestsDir}: ${(err as Error).message}`);
    }
    for (const file of files.sort()) {
      const path = join(this.config.manifestsDir, file);
      try {
        const text = readFileSync(path, 'utf8');
        const manifest = parse(text);
        if (manifest?.kind !== 'Pod') continue;
        desired.set(this.podName(manifest), { file: path, hash: createHash('sha256').update(text).digest('hex').slice(0, 16), manifest });
      } catch (err) {
        log('kubelet', `ignoring ${path}: ${(err as Error).message}`);
      }
    }
    for (const pod of this.pods.values()) {
      const want = desired.get(pod.name);
      if (!want || want.hash !== pod.hash) void this.removePod(pod, want ? 'manifest changed' : 'manifest removed');
    }
    for (const [name, want] of desired) {
      if (!this.pods.has(name)) this.pods.set(name, this.newPod(name, want.file, want.hash, want.manifest));
    }
    for (const pod of this.pods.values()) {
      if (pod.state === 'waiting' && Date.now() >= pod.nextStartAt) this.startPod(pod);
    }
    this.writeStatus();
  }

  private newPod(name: string, file: string, hash: string, manifest: any): Pod {
    const container = manifest?.spec?.containers?.[0] ?? {};
    const env: Record<string, string> = { LAB_IMAGE: String(container.image ?? '') };
    for (const e of container.env ?? []) if (e?.name) env[e.name] = String(e.value ?? '');
    const probes: Pod['probes'] = {};
    for (const [kind, key] of [
      ['startup', 'startupProbe'],
      ['liveness', 'livenessProbe'],
      ['readiness', 'readinessProbe'],
    ] as const) {
      const probe = probeFromManifest(container[key], this.config.address);
      if (probe) probes[kind] = probe;
    }
    return {
      name,
      file,
      hash,
      probes,
      env,
      argv: [...(container.command ?? []), ...(container.args ?? [])].map(String),
      state: 'waiting',
      startedAt: 0,
      restarts: 0,
      backoffMs: 1000,
      nextStartAt: 0,
      started: false,
      ready: false,
      failures: { startup: 0, liveness: 0, readiness: 0 },
      nextProbeAt: { startup: 0, liveness: 0, readiness: 0 },
      probing: new Set(),
    };
  }

  private program(argv: string[]): [string, string[]] {
    const [command, ...rest] = argv;
    if (STANDINS.has(command)) return [process.execPath, [this.config.standinsScript, command, ...rest]];
    if (command === 'etcd') return ['/usr/bin/etcd', rest];
    return [command, rest];
  }

  private startPod(pod: Pod): void {
    if (this.stopping || pod.argv.length === 0) return;
    const [program, args] = this.program(pod.argv);
    const logFd = openSync(join(this.config.logDir, `${pod.name}.log`), 'a');
    const child = spawn(program, args, {
      stdio: ['ignore', logFd, logFd],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...pod.env },
    });
    closeSync(logFd);
    const now = Date.now();
    Object.assign(pod, {
      child,
      state: 'running',
      startedAt: now,
      started: !pod.probes.startup,
      ready: !pod.probes.readiness,
      failures: { startup: 0, liveness: 0, readiness: 0 },
    });
    for (const kind of ['startup', 'liveness', 'readiness'] as ProbeKind[])
      pod.nextProbeAt[kind] = now + (pod.probes[kind]?.initialDelaySeconds ?? 0) * 1000;
    log('kubelet', `started ${pod.name} (pid ${child.pid}, restarts ${pod.restarts})`);
    child.on('error', (err) => log('kubelet', `${pod.name}: ${err.message}`));
    child.on('exit', (code, signal) => {
      pod.lastExit = { code, signal, at: new Date().toISOString() };
      pod.child = undefined;
      if (pod.state === 'terminating') return;
      // Crashed or was killed: restart with back-off (reset after a good run).
      if (Date.now() - pod.startedAt > 10_000) pod.backoffMs = 1000;
      pod.state = 'waiting';
      pod.restarts++;
      pod.nextStartAt = Date.now() + pod.backoffMs;
      pod.backoffMs = Math.min(pod.backoffMs * 2, 10_000);
      log('kubelet', `${pod.name} exited (code ${code}, signal ${signal}); restarting in ${pod.nextStartAt - Date.now()} ms`);
      this.writeStatus();
    });
  }

  private stopPod(pod: Pod): Promise<void> {
    if (pod.stopped) return pod.stopped;
    const child = pod.child;
    pod.state = 'terminating';
    if (!child || child.exitCode !== null || child.signalCode !== null) return (pod.stopped = Promise.resolve());
    pod.stopped = new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
    return pod.stopped;
  }

  private async removePod(pod: Pod, why: string): Promise<void> {
    if (pod.state === 'terminating') return;
    log('kubelet', `stopping ${pod.name}: ${why}`);
    await this.stopPod(pod);
    if (this.pods.get(pod.name) === pod) this.pods.delete(pod.name);
    this.writeStatus();
    this.syncSoon(); // a changed manifest's new pod starts once the old one is gone
  }

  /** Restarts a running container (liveness or startup probe failed), counting it as a restart. */
  private killForProbe(pod: Pod, kind: ProbeKind, detail: string): void {
    log('kubelet', `${pod.name}: ${kind} probe failed ${pod.failures[kind]} times (${detail}); restarting the container`);
    pod.child?.kill('SIGTERM');
    const child = pod.child;
    setTimeout(() => child && child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'), STOP_GRACE_MS).unref();
  }

  private probeAll(): void {
    const now = Date.now();
    for (const pod of this.pods.values()) {
      if (pod.state !== 'running') continue;
      for (const kind of ['startup', 'liveness', 'readiness'] as ProbeKind[]) {
        const probe = pod.probes[kind];
        if (!probe || pod.probing.has(kind) || now < pod.nextProbeAt[kind]) continue;
        if (kind !== 'startup' && !pod.started) continue;
        if (kind === 'startup' && pod.started) continue;
        pod.probing.add(kind);
        pod.nextProbeAt[kind] = now + probe.periodSeconds * 1000;
        const child = pod.child;
        void runHttpProbe(probe, probe.timeoutSeconds * 1000).then((result) => {
          pod.probing.delete(kind);
          if (pod.child !== child || pod.state !== 'running') return;
          pod.lastProbe = `${kind}: ${result.detail}`;
          if (result.ok) {
            pod.failures[kind] = 0;
            if (kind === 'startup') pod.started = true;
            if (kind === 'readiness') pod.ready = true;
            return;
          }
          pod.failures[kind]++;
          if (kind === 'readiness') pod.ready = false;
          else if (pod.failures[kind] >= probe.failureThreshold) this.killForProbe(pod, kind, result.detail);
        });
      }
    }
  }

  /** Registers or updates the Node object, authenticating with kubelet.conf's current client certificate. */
  private async heartbeat(): Promise<void> {
    if (this.stopping || !existsSync(this.config.kubeconfig)) return;
    const now = new Date().toISOString();
    // the Node as a real kubelet posts it (labels, annotations, images, every condition): 10+ KB, not a sketch
    const node = realisticNode({
      name: this.config.nodeName,
      address: this.config.address,
      role: this.config.role,
      kubeletVersion: this.config.kubeletVersion,
      ready: { status: 'True', heartbeat: now },
    });
    try {
      const creds = loadKubeconfig(this.config.kubeconfig);
      this.serverCa ??= creds.ca;
      creds.ca = this.serverCa;
      const res = await kubeRequest(creds, 'PUT', `/api/v1/nodes/${this.config.nodeName}/status`, { body: node, timeoutMs: 2000 });
      if (res.status !== 200) throw new Error(describeFailure(res));
      this.nodeStatus = { registered: true, lastHeartbeat: now, lastError: '' };
    } catch (err) {
      this.nodeStatus = { ...this.nodeStatus, lastError: (err as Error).message };
    }
  }

  report() {
    return {
      node: this.config.nodeName,
      // what the lab's `systemctl is-active kubelet` reads: this process, and whether it is serving or restarting
      kubeletPid: process.pid,
      kubeletState: this.restarting ? 'restarting' : 'running',
      restarts: this.restarts,
      updated: new Date().toISOString(),
      api: this.nodeStatus,
      pods: [...this.pods.values()].map((p) => ({
        name: p.name,
        file: p.file,
        hash: p.hash,
        state: p.state,
        pid: p.child?.pid,
        restarts: p.restarts,
        startedAt: p.startedAt ? new Date(p.startedAt).toISOString() : undefined,
        started: p.started,
        ready: p.ready,
        lastExit: p.lastExit,
        lastProbe: p.lastProbe,
      })),
    };
  }

  private writeStatus(): void {
    const tmp = `${this.config.statusFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.report(), null, 2));
    renameSync(tmp, this.config.statusFile);
  }
}
