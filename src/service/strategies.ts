// How a component gets restarted on a node: the exact commands of each strategy, and how `auto` picks one.
import type { Host } from '../hosts/host.js';
import type { Component, NodeServices } from './health.js';

import type { StrategyName } from './components.js';

export { STRATEGIES, type StrategyName } from './components.js';
export type ConcreteStrategy = Exclude<StrategyName, 'auto'>;

const CRI_SOCKETS = ['/run/containerd/containerd.sock', '/var/run/crio/crio.sock', '/run/crio/crio.sock', '/run/cri-dockerd.sock'];
const DOCKER_SOCKET = '/var/run/docker.sock';
const UNIT_DIRS = ['/etc/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system'];

async function hasCommand(host: Host, name: string): Promise<boolean> {
  if (!host.live) return false;
  return (await host.exec(['sh', '-c', `command -v ${name}`]).catch(() => ({ code: 1 }))).code === 0;
}

async function anyExists(host: Host, paths: string[]): Promise<boolean> {
  for (const p of paths) if (await host.stat(p)) return true;
  return false;
}

/** Where systemd would load <unit>.service from on this node, if anywhere. */
export async function unitFile(host: Host, unit: string): Promise<string | undefined> {
  for (const dir of UNIT_DIRS) if (await host.stat(`${dir}/${unit}.service`)) return `${dir}/${unit}.service`;
  return undefined;
}

export async function hasUnit(host: Host, unit: string): Promise<boolean> {
  return (await unitFile(host, unit)) !== undefined;
}

/** auto: static pods → the container runtime's CLI when one is there, else kubeadm's manifest move; services → systemd. */
export async function detectStrategy(
  host: Host,
  services: NodeServices,
  component: Component,
): Promise<{ strategy: ConcreteStrategy; why: string } | { strategy: undefined; why: string }> {
  if (component === 'kubelet') return { strategy: 'systemd', why: 'the kubelet is a systemd service' };
  if (services.pods.has(component)) {
    if ((await anyExists(host, CRI_SOCKETS)) && (await hasCommand(host, 'crictl')))
      return { strategy: 'crictl', why: 'static pod, CRI socket and crictl present' };
    if ((await anyExists(host, [DOCKER_SOCKET])) && (await hasCommand(host, 'docker')))
      return { strategy: 'docker', why: 'static pod, docker socket and CLI present' };
    return { strategy: 'manifest', why: 'static pod, no container runtime CLI: moving the manifest out and back' };
  }
  if (component === 'etcd' && services.etcdService)
    return { strategy: 'systemd', why: `etcd.service runs etcd (settings in ${services.etcdService.envFile})` };
  if (await hasUnit(host, component)) return { strategy: 'systemd', why: `${component}.service exists` };
  return { strategy: undefined, why: `nothing runs ${component} on this node (no manifest, no ${component}.service)` };
}

/** crictl: find the pod sandboxes by the labels the kubelet gives static pods, stop and remove them. */
export function crictlCommands(component: Component, podIds: string[]): string[][] {
  if (podIds.length === 0) return [['crictl', 'pods', '--namespace', 'kube-system', '--label', `component=${component}`, '-q']];
  return podIds.flatMap((id) => [
    ['crictl', 'stopp', id],
    ['crictl', 'rmp', id],
  ]);
}

/** docker (dockershim / cri-dockerd): the containers the kubelet named k8s_<container>_<pod>_kube-system_..., by label. */
export function dockerCommands(containerName: string, ids: string[]): string[][] {
  if (ids.length === 0)
    return [
      [
        'docker',
        'ps',
        '-a',
        '-q',
        '--filter',
        'label=io.kubernetes.pod.namespace=kube-system',
        '--filter',
        `label=io.kubernetes.container.name=${containerName}`,
      ],
    ];
  return [['docker', 'rm', '-f', ...ids]];
}

export function systemdCommands(component: Component): string[][] {
  return [['systemctl', 'restart', `${component}.service`]];
}
