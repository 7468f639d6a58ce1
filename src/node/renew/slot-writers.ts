// How a new certificate and key are written into each kind of place (the twin of scan/slot-files.ts): a PEM pair
// as two files, a kubeconfig with the credentials embedded (its CA data as given), the kubelet's way for its one PEM
// (a new timestamped file, then the -current link swapped to it). Modes and owners are kept; nothing is written
// through a symlink. Renewal and the external CA's import both write through here.
import { posix } from 'node:path';
import type { Host } from '../../hosts/host.js';
import { withEmbeddedCredentials } from '../../kubeadm/kubeconfig.js';
import type { CertEntry, Slot } from '../scan/index.js';
import { CERT_MODE, type FileWrite, fileWrite, KEY_MODE, KUBECONFIG_MODE } from './materialize.js';

type SlotOf<K extends Slot['kind']> = Extract<Slot, { kind: K }>;

/** What is written: the certificate (with its chain), its key, the CA data for a kubeconfig, and when it starts. */
export interface NewCredentials {
  certPem: string;
  keyPem: string;
  caPem?: string;
  notBefore: Date;
}

export interface SlotWriter<S extends Slot> {
  /** The files a renewal writes here, known before the key is made (they are backed up meanwhile). */
  plannedPaths(host: Host, slot: S, notBefore: Date): Promise<string[]>;
  /** The writes that put the new certificate and key in place. */
  writes(host: Host, entry: CertEntry & { slot: S }, credentials: NewCredentials): Promise<FileWrite[]>;
}

const SLOT_WRITERS: { [K in Slot['kind']]: SlotWriter<SlotOf<K>> } = {
  pair: {
    plannedPaths: async (_host, slot) => [slot.keyPath, slot.certPath],
    writes: async (host, entry, c) => [
      await fileWrite(host, entry.slot.keyPath, c.keyPem, KEY_MODE, entry.name),
      await fileWrite(host, entry.slot.certPath, c.certPem, CERT_MODE, entry.name),
    ],
  },
  kubeconfig: {
    plannedPaths: async (_host, slot) => [slot.path],
    writes: async (host, entry, c) => {
      const text = withEmbeddedCredentials(entry.kubeconfig!, c.certPem, c.keyPem, c.caPem);
      return [await fileWrite(host, entry.slot.path, text, KUBECONFIG_MODE, entry.name, 'kubeconfig')];
    },
  },
  combined: {
    plannedPaths: async (host, slot, notBefore) => {
      const rotated = await rotatedFile(host, slot, notBefore);
      return [...(rotated ? [rotated.newFile] : []), slot.linkPath];
    },
    writes: async (host, entry, c) => {
      const rotated = await rotatedFile(host, entry.slot, c.notBefore);
      if (!rotated) return [await fileWrite(host, entry.slot.linkPath, c.certPem + c.keyPem, KEY_MODE, entry.name)];
      return [
        await fileWrite(host, rotated.newFile, c.certPem + c.keyPem, KEY_MODE, entry.name),
        { kind: 'symlink', path: entry.slot.linkPath, target: rotated.target, entry: entry.name },
      ];
    },
  },
};

/** The writer for a slot (one cast here instead of a switch at every caller). */
export const slotWriter = <S extends Slot>(slot: S): SlotWriter<S> => SLOT_WRITERS[slot.kind] as unknown as SlotWriter<S>;

/** Where the kubelet's way puts the new PEM and what the -current link then says; none when the link is a file. */
async function rotatedFile(
  host: Host,
  slot: SlotOf<'combined'>,
  notBefore: Date,
): Promise<{ newFile: string; target: string } | undefined> {
  if ((await host.stat(slot.linkPath))?.type !== 'symlink') return undefined;
  const stamp = notBefore
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/[T:]/g, '-');
  const fileName = `${posix.basename(slot.linkPath).replace(/-current\.pem$/, '')}-${stamp}.pem`;
  const newFile = posix.join(posix.dirname(slot.filePath), fileName);
  return { newFile, target: posix.dirname(slot.filePath) === posix.dirname(slot.linkPath) ? fileName : newFile };
}
