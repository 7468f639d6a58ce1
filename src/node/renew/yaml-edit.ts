// Comment-preserving edits of a YAML file kpki does not own (a static pod manifest, the kubelet's config): the
// document is parsed, one value changes, and it is written back in its own style; only the intended lines change.
import { isMap, isSeq, parseDocument, YAMLSeq } from 'yaml';
import type { Host } from '../../hosts/host.js';
import { yamlStyleOf } from '../../kubeadm/kubeconfig.js';
import { KpkiError } from '../../errors.js';
import type { FileWrite } from './materialize.js';

/** The edited file as a write (and what changed), or nothing when the edit changes nothing or the file is absent. */
export async function editYaml(
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

/** The container command of a static pod manifest, as words (and the sequence, to edit in place). */
export function commandOf(doc: ReturnType<typeof parseDocument>, host: Host, manifest: string): { seq: YAMLSeq; words: string[] } {
  const container = doc.getIn(['spec', 'containers', 0]);
  const command = isMap(container) ? container.get('command') : undefined;
  if (!isSeq(command)) throw new KpkiError(`${host.describe(manifest)} has no container command`, { path: manifest });
  const seq = command as YAMLSeq;
  return { seq, words: seq.items.map((i) => String((i as { value?: unknown }).value ?? i)) };
}

/** Sets --flag=value in a static pod manifest's command, where the flag already is (kubeadm's flags stay in place). */
export function setExistingFlag(host: Host, manifest: string, flag: string, value: string) {
  return editYaml(host, manifest, (doc) => {
    const { seq, words } = commandOf(doc, host, manifest);
    const at = words.findIndex((w) => w.startsWith(`--${flag}=`));
    if (at < 0) throw new KpkiError(`${host.describe(manifest)} has no --${flag} to change`, { path: manifest });
    const word = `--${flag}=${value}`;
    if (words[at] === word) return undefined;
    seq.set(at, word);
    return `${manifest}: ${words[at]} → ${word}`;
  });
}
