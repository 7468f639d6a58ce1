// Where kpki keeps static pod manifests it moved out for a restart, and the journal that records them (written by
// service/parked.ts). Read here too: a parked manifest still defines the node (which files its components read).
import type { Host } from '../../hosts/host.js';
import { STATE_DIR } from './backup.js';

export const PARKED_JOURNAL = `${STATE_DIR}/parked-manifests.json`;
export const PARKED_DIR = '/etc/kubernetes/kpki-parked';

export interface ParkedManifest {
  from: string;
  to: string;
  at: string;
}

export async function readParkedJournal(host: Host): Promise<ParkedManifest[]> {
  if (!(await host.stat(PARKED_JOURNAL))) return [];
  return JSON.parse((await host.readFile(PARKED_JOURNAL)).toString());
}

/** Manifests parked and not back yet: the file is in the parked directory, none in its place. */
export async function stillParked(host: Host): Promise<ParkedManifest[]> {
  const parked: ParkedManifest[] = [];
  for (const entry of await readParkedJournal(host).catch(() => []))
    if ((await host.stat(entry.to)) && !(await host.stat(entry.from))) parked.push(entry);
  return parked;
}
