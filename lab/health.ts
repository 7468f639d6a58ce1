// Health of a lab node seen from outside, with the node's own certificates (as an operator would check it).
import net from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdClient } from './standins/etcd-client.js';
import { describeFailure, kubeRequest, loadKubeconfig } from './standins/kube-client.js';
import { runHttpProbe } from './standins/probes.js';
import type { NodeInfo } from './setup.js';

export interface Check {
  ok: boolean;
  detail: string;
}

export interface NodeHealth {
  node: string;
  address: string;
  role: string;
  checks: Record<string, Check>;
  pods: { name: string; state: string; restarts: number; ready: boolean }[];
}

const tree = (node: NodeInfo, path: string) => join(node.dir, 'root', path);

export function tcpOpen(host: string, port: number, timeoutMs = 1000): Promise<Check> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ ok: true, detail: 'listening' });
    });
    socket.once('timeout', () => socket.destroy(new Error('timeout')));
    socket.once('error', (err) => resolve({ ok: false, detail: err.message }));
  });
}

/**
 * A client of the node's etcd, with the node's files as they are now: kubeadm's healthcheck-client or apiserver-etcd-client,
 * or on a Kubespray-style node (etcd.service) admin-<host>.pem or kube-apiserver's node-<host>.pem.
 */
export function etcdTls(node: NodeInfo, client: 'health' | 'apiserver'): { ca: Buffer; cert: Buffer; key: Buffer } {
  const ssl = tree(node, '/etc/ssl/etcd/ssl');
  if (existsSync(`${ssl}/ca.pem`)) {
    const base = `${ssl}/${client === 'health' ? 'admin' : 'node'}-${node.name}`;
    return { ca: readFileSync(`${ssl}/ca.pem`), cert: readFileSync(`${base}.pem`), key: readFileSync(`${base}-key.pem`) };
  }
  const pki = tree(node, '/etc/kubernetes/pki');
  const base = client === 'health' ? `${pki}/etcd/healthcheck-client` : `${pki}/apiserver-etcd-client`;
  return { ca: readFileSync(`${pki}/etcd/ca.crt`), cert: readFileSync(`${base}.crt`), key: readFileSync(`${base}.key`) };
}

export async function etcdHealth(node: NodeInfo): Promise<Check> {
  const client = new EtcdClient(`https://${node.address}:2379`, etcdTls(node, 'health'), 1500);
  try {
    const health = await client.health();
    return { ok: health.healthy, detail: health.healthy ? 'healthy' : String(health.reason) };
  } finally {
    client.close();
  }
}

/** /readyz over TLS verified against the cluster CA, authenticated with the node's admin.conf. */
export async function apiReady(node: NodeInfo, kubeconfig = tree(node, '/etc/kubernetes/admin.conf')): Promise<Check> {
  try {
    const res = await kubeRequest(loadKubeconfig(kubeconfig), 'GET', '/readyz', {
      server: `https://${node.address}:6443`,
      timeoutMs: 2000,
    });
    return { ok: res.status === 200, detail: res.status === 200 ? 'ready' : describeFailure(res) };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}

export async function componentHealth(node: NodeInfo, port: number): Promise<Check> {
  const result = await runHttpProbe({ host: node.address, port, path: '/healthz', scheme: 'HTTPS' }, 1500);
  return { ok: result.ok, detail: result.ok ? 'healthy' : result.detail };
}

/** The Node object's Ready condition, read through the API with an admin kubeconfig. */
export async function nodeReady(node: NodeInfo, adminKubeconfig: string, server?: string): Promise<Check> {
  try {
    const res = await kubeRequest(loadKubeconfig(adminKubeconfig), 'GET', `/api/v1/nodes/${node.name}`, { server, timeoutMs: 2000 });
    if (res.status !== 200) return { ok: false, detail: describeFailure(res) };
    const ready = JSON.parse(res.body).status?.conditions?.find((c: { type: string }) => c.type === 'Ready');
    return {
      ok: ready?.status === 'True',
      detail: ready ? `Ready=${ready.status}${ready.status === 'True' ? '' : ` (${ready.message})`}` : 'no Ready condition',
    };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}

export function kubeletPods(node: NodeInfo): NodeHealth['pods'] {
  const file = join(node.dir, 'kubelet-status.json');
  if (!existsSync(file)) return [];
  try {
    return JSON.parse(readFileSync(file, 'utf8')).pods;
  } catch {
    return []; // being replaced right now
  }
}

export async function nodeHealth(node: NodeInfo, adminKubeconfig: string, endpoint: string): Promise<NodeHealth> {
  const checks: Record<string, Promise<Check>> = { sshd: tcpOpen(node.address, 22), kubelet: nodeReady(node, adminKubeconfig, endpoint) };
  if (node.role === 'control-plane') {
    Object.assign(checks, {
      etcd: etcdHealth(node),
      'kube-apiserver': apiReady(node),
      'kube-controller-manager': componentHealth(node, 10257),
      'kube-scheduler': componentHealth(node, 10259),
    });
  }
  const settled = Object.fromEntries(await Promise.all(Object.entries(checks).map(async ([k, v]) => [k, await v] as const)));
  return { node: node.name, address: node.address, role: node.role, checks: settled, pods: kubeletPods(node) };
}
