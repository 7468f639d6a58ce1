// The two ways to restart a control plane, measured under load as the baseline for kpki's rolling restarts:
// every node's static pods at once (what a timer on every node does), or one node at a time behind health gates.
import type { Lab, LabNode } from './lab.js';
import { Load, LoadOptions, LoadReport } from './load.js';

export const CONTROL_PLANE_PODS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];

async function restartNode(node: LabNode): Promise<void> {
  for (const pod of CONTROL_PLANE_PODS) node.parkManifest(pod);
  await Promise.all(CONTROL_PLANE_PODS.map((pod) => node.waitPod(pod, 'gone')));
  for (const pod of CONTROL_PLANE_PODS) node.unparkManifest(pod);
  await Promise.all(CONTROL_PLANE_PODS.map((pod) => node.waitPod(pod, 'running')));
}

export interface RestartMeasurement {
  strategy: 'all at once' | 'one node at a time';
  restartMs: number;
  report: LoadReport;
}

/** Runs the load, restarts, waits until the whole lab is healthy again, lets the load run 1 s more, reports. */
export async function measureRestart(
  lab: Lab,
  strategy: RestartMeasurement['strategy'],
  loadOptions: Partial<LoadOptions> = {},
): Promise<RestartMeasurement> {
  const load = Load.start(lab, { durationMs: 300_000, ...loadOptions });
  await new Promise((r) => setTimeout(r, 1000));
  const start = Date.now();
  if (strategy === 'all at once') {
    await Promise.all(lab.controlPlanes.map(restartNode));
    await lab.waitHealthy(90_000);
  } else {
    for (const node of lab.controlPlanes) {
      await restartNode(node);
      await lab.waitHealthy(90_000); // this node and every other one healthy before the next
    }
  }
  const restartMs = Date.now() - start;
  await new Promise((r) => setTimeout(r, 1000));
  return { strategy, restartMs, report: await load.finish() };
}
