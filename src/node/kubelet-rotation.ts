// Turns on the kubelet's client certificate rotation (rotateCertificates: true in its config) and sets the
// controller-manager's --cluster-signing-duration: comment-preserving edits, only the intended lines change.
import { posix } from 'node:path';
import { isMap, isSeq, parseDocument, YAMLSeq } from 'yaml';
import type { Host } from '../hosts/host.js';
import { KUBELET_CONFIG, MANIFEST_DIR } from '../kubeadm/catalog.js';
import { yamlStyleOf } from '../kubeadm/kubeconfig.js';
import { KpkiError } from '../errors.js';
import type { FileWrite } from './materialize.js';

export interface RotationPlan {
  writes: FileWrite[];
  changes: string[];
  /** The controller-manager's manifest changed: the kubelet restarts it by itself. */
  controllerManagerChanged: boolean;
  kubeletChanged: boolean;
}

async function editYaml(
  host: Host,
  path: string,
  edit: (doc: ReturnType<typeof parseDocument>) => string | undefined,
): Promise<{ write?: FileWrite; change?: string }> {
  const info = await host.stat(path);
  if (!info) return {};
  if (info.type !== 'file') throw new KpkiError(`${host.describe(path)} is not a regular file: not editing it`, { path });
  const text = (await host.readFile(path)).toString();
  const doc = parseDocument(text);
  if (doc.errors.length > 0)
    throw new KpkiError(`${host.describe(path)} is not valid YAML: ${doc.errors[0].message.split('\n')[0]}; nothing was changed`, { path });
  const change = edit(doc);
  if (!change) return {};
  return {
    change,
    write: {
      kind: 'file',
      path,
      data: doc.toString(yamlStyleOf(text)),
      mode: info.mode,
      uid: info.uid,
      gid: info.gid,
      entry: path,
      format: 'yaml',
    },
  };
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
    const container = doc.getIn(['spec', 'containers', 0]);
    const command = isMap(container) ? container.get('command') : undefined;
    if (!isSeq(command)) throw new KpkiError(`${host.describe(manifest)} has no container command`, { path: manifest });
    const seq = command as YAMLSeq;
    const words = seq.items.map((i) => String((i as { value?: unknown }).value ?? i));
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
