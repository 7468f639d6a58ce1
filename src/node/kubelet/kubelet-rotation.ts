// Turns on the kubelet's client certificate rotation (rotateCertificates: true in its config) and sets the
// controller-manager's --cluster-signing-duration: comment-preserving edits, only the intended lines change.
import { posix } from 'node:path';
import type { Host } from '../../hosts/host.js';
import { KUBELET_CONFIG, MANIFEST_DIR } from '../../kubeadm/catalog.js';
import { commandOf, editYaml } from '../renew/index.js';
import { KpkiError } from '../../errors.js';
import type { FileWrite } from '../renew/index.js';

export interface RotationPlan {
  writes: FileWrite[];
  changes: string[];
  /** The controller-manager's manifest changed: the kubelet restarts it by itself. */
  controllerManagerChanged: boolean;
  kubeletChanged: boolean;
}

export async function planRotation(host: Host, signingDuration: string): Promise<RotationPlan> {
  const plan: RotationPlan = { writes: [], changes: [], controllerManagerChanged: false, kubeletChanged: false };
  if (!(await host.stat(KUBELET_CONFIG)))
    throw new KpkiError(`${host.describe(KUBELET_CONFIG)} does not exist: no kubelet configured here`, { path: KUBELET_CONFIG });
  const kubelet = await editYaml(host, KUBELET_CONFIG, (doc) => {
    if (doc.get('rotateCertificates') === true) return undefined;
    doc.set('rotateCertificates', true);
    return `${KUBELET_CONFIG}: rotateCertificates: true`;
  });
  if (kubelet.write) {
    plan.writes.push(kubelet.write);
    plan.changes.push(kubelet.change!);
    plan.kubeletChanged = true;
  }
  const manifest = posix.join(MANIFEST_DIR, 'kube-controller-manager.yaml');
  const flag = `--cluster-signing-duration=${signingDuration}`;
  const cm = await editYaml(host, manifest, (doc) => {
    const { seq, words } = commandOf(doc, host, manifest);
    const at = words.findIndex(
      (w) => w.startsWith('--cluster-signing-duration=') || w.startsWith('--experimental-cluster-signing-duration='),
    );
    if (at >= 0) {
      if (words[at] === flag) return undefined;
      seq.set(at, flag);
      return `${manifest}: ${words[at]} → ${flag}`;
    }
    // kubeadm writes the flags sorted: keep them sorted
    const after = words.findIndex((w, i) => i > 0 && w > flag);
    seq.items.splice(after < 0 ? seq.items.length : after, 0, doc.createNode(flag));
    return `${manifest}: added ${flag}`;
  });
  if (cm.write) {
    plan.writes.push(cm.write);
    plan.changes.push(cm.change!);
    plan.controllerManagerChanged = true;
  }
  return plan;
}
