// Static pod manifests moved out of the manifests directory for a restart are recorded in a journal first, so that
// Ctrl-C, a crash or a kill never loses one: the next kpki run (or the signal handler) moves it back.
import { posix } from 'node:path';
import type { Host } from '../hosts/host.js';
import { STATE_DIR } from '../node/txn/index.js';
import { PARKED_DIR, PARKED_JOURNAL, type ParkedManifest, readParkedJournal as readJournal } from '../node/txn/index.js';

export { PARKED_DIR, PARKED_JOURNAL, type ParkedManifest };

export async function parkManifest(host: Host, manifest: string): Promise<ParkedManifest> {
  const entry = { from: manifest, to: posix.join(PARKED_DIR, posix.basename(manifest)), at: new Date().toISOString() };
  await host.mkdirp(STATE_DIR, 0o700);
  await host.mkdirp(PARKED_DIR, 0o700);
  await host.writeFileAtomic(PARKED_JOURNAL, JSON.stringify([...(await readJournal(host)), entry], null, 2), { mode: 0o600 });
  await host.rename(entry.from, entry.to);
  return entry;
}

export async function unparkManifest(host: Host, entry: ParkedManifest): Promise<void> {
  if ((await host.stat(entry.to)) && !(await host.stat(entry.from))) await host.rename(entry.to, entry.from);
  const rest = (await readJournal(host)).filter((e) => e.from !== entry.from);
  // leave no empty directory behind in /etc/kubernetes
  if ((await host.list(PARKED_DIR)).length === 0) await host.remove(PARKED_DIR);
  if (rest.length === 0) await host.remove(PARKED_JOURNAL);
  else await host.writeFileAtomic(PARKED_JOURNAL, JSON.stringify(rest, null, 2), { mode: 0o600 });
}

/** Puts back whatever an interrupted run left parked; returns what it did, for the user. */
export async function restoreParked(host: Host): Promise<string[]> {
  const done: string[] = [];
  for (const entry of await readJournal(host)) {
    const parkedExists = await host.stat(entry.to);
    const targetExists = await host.stat(entry.from);
    await unparkManifest(host, entry);
    if (parkedExists && !targetExists)
      done.push(`moved ${entry.from} back into place (an interrupted restart had parked it at ${entry.at})`);
  }
  return done;
}
