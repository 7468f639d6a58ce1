// The kubeadm config file on a node (ClusterConfiguration): what kpki changes in certificates that kubeadm would
// otherwise undo at its next `upgrade` or `certs renew` (extra names, the key algorithm) is recorded there too, in
// the same transaction as the certificates.
import type { Host } from '../../hosts/host.js';
import { ClusterConfigEdit, encryptionAlgorithmEdit, sansEdit } from '../../kubeadm/cluster-config.js';
import type { FileWrite } from './materialize.js';
import { SanChange, splitSan } from './plan.js';
import type { NodeScan } from '../scan/index.js';

/** The kubeadm config file on the node with the edit applied (none when there is no such file, or nothing changes). */
export async function kubeadmConfigWrite(host: Host, scan: NodeScan, edit: ClusterConfigEdit): Promise<FileWrite | undefined> {
  if (!scan.settingsPath) return undefined;
  const info = await host.stat(scan.settingsPath);
  if (info?.type !== 'file') return undefined;
  const text = (await host.readFile(scan.settingsPath)).toString('utf8');
  const edited = edit.apply(text);
  if (edited === undefined || edited === text) return undefined;
  return {
    kind: 'file',
    path: scan.settingsPath,
    data: edited,
    mode: info.mode,
    uid: info.uid,
    gid: info.gid,
    entry: `${edit.field} in ${scan.settingsPath}`,
    format: 'yaml',
  };
}

/** The ClusterConfiguration edits a renewal with these settings implies: names that change, a new key algorithm. */
export function configEdits(o: { sans?: SanChange; keyAlgorithm?: string }): ClusterConfigEdit[] {
  const values = (names: string[]) => names.map((n) => splitSan(n)[1]);
  return [
    ...(o.sans ? [sansEdit(o.sans.cert, values(o.sans.add), values(o.sans.remove))] : []),
    ...(o.keyAlgorithm ? [encryptionAlgorithmEdit(o.keyAlgorithm)] : []),
  ];
}

/** The node's kubeadm config file with every edit applied, in one write (none when nothing changes). */
export async function kubeadmConfigWrites(host: Host, scan: NodeScan, edits: ClusterConfigEdit[]): Promise<FileWrite[]> {
  if (edits.length === 0) return [];
  const combined: ClusterConfigEdit = {
    field: edits.map((e) => e.field).join(', '),
    apply: (text) => edits.reduce<string | undefined>((t, e) => (t === undefined ? undefined : (e.apply(t) ?? t)), text),
  };
  const write = await kubeadmConfigWrite(host, scan, combined);
  return write ? [write] : [];
}
