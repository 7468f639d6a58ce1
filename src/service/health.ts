// Health of a node's control-plane components, read the way the kubelet probes them (from the static pod manifests)
// plus checks that prove the certificates work: etcd /health with the healthcheck client certificate, kube-apiserver
// /readyz verified against the cluster CA and authenticated with admin.conf, the kubelet's /healthz.
import { posix } from 'node:path';
import { parse } from 'yaml';
import type { Host } from '../hosts/host.js';
import { parseKubeconfig } from '../kubeadm/kubeconfig.js';
import { HttpGetProbe, parseStaticPod, StaticPod } from '../kubeadm/manifests.js';
import { DEFAULT_KUBECONFIG_DIR, KUBELET_CONFIG, MANIFEST_DIR } from '../kubeadm/catalog.js';
import { describeNetworkError, Dial, GetOptions, httpGet } from '../api/http.js';

import { COMPONENTS, type Component } from './components.js';
import { etcdClientFiles, etcdClientUrl, etcdFlags, type EtcdService, readEtcdService } from './etcd-service.js';

export { COMPONENTS, type Component };

export interface HealthCheck {
  component: Component;
  check: string;
  ok: boolean;
  detail: string;
}

export interface NodeServices {
  /** Static pods by component, from the manifests directory (components that run as pods). */
  pods: Map<Component, StaticPod>;
  kubeletHealthz?: string;
  /** Connections from the node itself (over SSH): probes of its 127.0.0.1 reach the node, not this machine. */
  dial?: Dial;
  /** etcd run by systemd (Kubespray, KubeKey) rather than as a static pod. */
  etcdService?: EtcdService;
}

export async function readServices(host: Host, kubeconfigDir = DEFAULT_KUBECONFIG_DIR): Promise<NodeServices> {
  const pods = new Map<Component, StaticPod>();
  for (const file of await host.list(MANIFEST_DIR)) {
    if (!/\.(ya?ml|json)$/.test(file) || file.startsWith('.')) continue;
    const path = posix.join(MANIFEST_DIR, file);
    try {
      const pod = { ...parseStaticPod((await host.readFile(path)).toString(), file), path };
      if ((COMPONENTS as readonly string[]).includes(pod.component)) pods.set(pod.component as Component, pod);
    } catch {
      /* an unreadable manifest is reported by check; health just cannot use it */
    }
  }
  let kubeletHealthz: string | undefined;
  if (await host.stat(KUBELET_CONFIG)) {
    try {
      const config = parse((await host.readFile(KUBELET_CONFIG)).toString()) ?? {};
      kubeletHealthz = `http://${config.healthzBindAddress ?? '127.0.0.1'}:${config.healthzPort ?? 10248}/healthz`;
    } catch {
      kubeletHealthz = 'http://127.0.0.1:10248/healthz';
    }
  } else if (await host.stat(posix.join(kubeconfigDir, 'kubelet.conf'))) {
    kubeletHealthz = 'http://127.0.0.1:10248/healthz';
  }
  const etcdService = pods.has('etcd') ? undefined : await readEtcdService(host).catch(() => undefined);
  return { pods, kubeletHealthz, dial: host.connectTcp?.bind(host), etcdService };
}

function probeUrl(probe: HttpGetProbe): string {
  return `${probe.scheme.toLowerCase()}://${probe.host ?? '127.0.0.1'}:${probe.port}${probe.path}`;
}

async function get(
  component: Component,
  check: string,
  url: string,
  options: GetOptions = {},
  judge?: (status: number, body: string) => string | undefined,
): Promise<HealthCheck> {
  try {
    const { status, body } = await httpGet(url, options);
    const problem = judge
      ? judge(status, body)
      : status >= 200 && status < 400
        ? undefined
        : `HTTP ${status}: ${
            body
              .trim()
              .split('\n')
              .filter((l) => l.startsWith('[-]'))
              .join('; ') || body.trim().slice(0, 200)
          }`;
    return { component, check, ok: !problem, detail: problem ?? `${url}: ok` };
  } catch (err) {
    return { component, check, ok: false, detail: `${url}: ${describeNetworkError(err)}` };
  }
}

/** The liveness probe, as the kubelet runs it (no certificate verification). */
export async function probeCheck(component: Component, pod: StaticPod, timeoutMs = 3000, via?: Dial): Promise<HealthCheck | undefined> {
  const probe = pod.probes.liveness ?? pod.probes.readiness ?? pod.probes.startup;
  return probe ? get(component, 'probe', probeUrl(probe), { insecure: true, timeoutMs, via }) : undefined;
}

async function etcdCheck(host: Host, services: NodeServices): Promise<HealthCheck> {
  const endpoint = etcdClientUrl(etcdFlags(services)!);
  const files = await etcdClientFiles(host, services);
  const check = `etcd /health (${files ? posix.basename(files.cert).replace(/\.(crt|pem)$/, '') : 'client certificate'})`;
  try {
    if (!files) throw new Error(`no client certificate of etcd named in ${services.etcdService?.envFile ?? 'its manifest'}`);
    const [ca, cert, key] = await Promise.all([files.ca, files.cert, files.key].map((p) => host.readFile(p)));
    return get('etcd', check, `${endpoint}/health`, { ca, cert, key, via: services.dial }, (status, body) => {
      try {
        return status === 200 && JSON.parse(body).health === 'true' ? undefined : `HTTP ${status}: ${body.trim().slice(0, 200)}`;
      } catch {
        return `HTTP ${status}: ${body.trim().slice(0, 200)}`;
      }
    });
  } catch (err) {
    return { component: 'etcd', check, ok: false, detail: `cannot read the client certificate: ${(err as Error).message}` };
  }
}

async function apiServerCheck(host: Host, pod: StaticPod, kubeconfigDir: string, via?: Dial): Promise<HealthCheck> {
  const address = pod.flags.get('advertise-address') ?? '127.0.0.1';
  const url = `https://${address.includes(':') ? `[${address}]` : address}:${pod.flags.get('secure-port') ?? '6443'}/readyz`;
  const check = '/readyz (cluster CA + admin.conf)';
  for (const file of ['admin.conf', 'super-admin.conf']) {
    const path = posix.join(kubeconfigDir, file);
    if (!(await host.stat(path))) continue;
    try {
      const id = parseKubeconfig((await host.readFile(path)).toString());
      const read = async (data?: Buffer, ref?: string) => data ?? (ref ? host.readFile(posix.resolve(kubeconfigDir, ref)) : undefined);
      const [ca, cert, key] = await Promise.all([
        read(id.certificateAuthorityData, id.certificateAuthorityFile),
        read(id.clientCertificateData, id.clientCertificateFile),
        read(id.clientKeyData, id.clientKeyFile),
      ]);
      return get('kube-apiserver', check.replace('admin.conf', file), url, { ca, cert, key, via }, (status, body) => {
        if (status === 200) return undefined;
        if (status === 401) return `HTTP 401 Unauthorized: ${file}'s client certificate is not accepted`;
        return `HTTP ${status}: ${
          body
            .trim()
            .split('\n')
            .filter((l) => l.startsWith('[-]'))
            .join('; ') || body.trim().slice(0, 200)
        }`;
      });
    } catch (err) {
      return { component: 'kube-apiserver', check, ok: false, detail: `cannot use ${path}: ${(err as Error).message}` };
    }
  }
  return { component: 'kube-apiserver', check, ok: false, detail: `no admin.conf or super-admin.conf in ${kubeconfigDir}` };
}

/** Is the component one kpki restarts on this node: the kubelet, a static pod, or etcd as etcd.service? */
export function runsHere(services: NodeServices, component: Component): boolean {
  return component === 'kubelet' || services.pods.has(component) || (component === 'etcd' && services.etcdService !== undefined);
}

/** Every check for one component (empty when the component does not run on this node). */
export async function componentHealth(
  host: Host,
  services: NodeServices,
  component: Component,
  kubeconfigDir = DEFAULT_KUBECONFIG_DIR,
): Promise<HealthCheck[]> {
  if (component === 'kubelet')
    return services.kubeletHealthz ? [await get('kubelet', 'kubelet /healthz', services.kubeletHealthz, { via: services.dial })] : [];
  const pod = services.pods.get(component);
  if (component === 'etcd' && !pod && services.etcdService) return [await etcdCheck(host, services)];
  if (!pod) return [];
  const checks: Promise<HealthCheck | undefined>[] = [probeCheck(component, pod, 3000, services.dial)];
  if (component === 'etcd') checks.push(etcdCheck(host, services));
  if (component === 'kube-apiserver') checks.push(apiServerCheck(host, pod, kubeconfigDir, services.dial));
  return (await Promise.all(checks)).filter((c): c is HealthCheck => c !== undefined);
}

/** A control-plane node (it runs any of the three) runs all three: a missing manifest is a failure, not an absence. */
function missingManifests(services: NodeServices): HealthCheck[] {
  const trio: Component[] = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];
  if (!trio.some((c) => services.pods.has(c))) return [];
  return trio
    .filter((c) => !services.pods.has(c))
    .map((c) => ({
      component: c,
      check: 'manifest',
      ok: false,
      detail: `no ${c}.yaml in ${MANIFEST_DIR} on this control-plane node (moved out by a restart?)`,
    }));
}

export async function nodeHealth(host: Host, services: NodeServices, kubeconfigDir = DEFAULT_KUBECONFIG_DIR): Promise<HealthCheck[]> {
  const checks = (await Promise.all(COMPONENTS.map((c) => componentHealth(host, services, c, kubeconfigDir)))).flat();
  return [...missingManifests(services), ...checks].sort((a, b) => COMPONENTS.indexOf(a.component) - COMPONENTS.indexOf(b.component));
}

/** Waits until every check of the component passes (resolves with the last checks either way). */
export async function waitHealthy(
  host: Host,
  services: NodeServices,
  component: Component,
  timeoutMs: number,
  kubeconfigDir?: string,
): Promise<{ ok: boolean; checks: HealthCheck[] }> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const checks = await componentHealth(host, services, component, kubeconfigDir);
    if (checks.every((c) => c.ok)) return { ok: true, checks };
    if (Date.now() > end) return { ok: false, checks };
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Waits until the component's probe endpoint stops answering (the old process is really gone). */
export async function waitDown(services: NodeServices, component: Component, timeoutMs: number): Promise<boolean> {
  const pod = services.pods.get(component);
  const probe = pod && (pod.probes.liveness ?? pod.probes.readiness ?? pod.probes.startup);
  if (!probe) return true;
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      await httpGet(probeUrl(probe), { insecure: true, timeoutMs: 1000, via: services.dial }); // any HTTP answer: still up
    } catch {
      return true; // refused, reset or silent
    }
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}
