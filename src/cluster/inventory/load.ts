// Reads an inventory file in whichever format it is: kpki's own, a Kubespray inventory (YAML or INI), a KubeKey
// config. Users keep the inventory they already have.
import { UsageError } from '../../errors.js';
import { parseKpkiInventory } from './kpki.js';
import { isKubeKeyConfig, parseKubeKey } from './kubekey.js';
import { parseKubesprayIni, parseKubesprayYaml } from './kubespray.js';
import { checkNodeName, Inventory } from './model.js';
import { applySshConfig } from './ssh-settings.js';
import { readRegularText } from '../../util/read-file.js';

export function parseAnyInventory(text: string, file: string): Inventory {
  const inventory = parseInFormat(text, file);
  for (const node of inventory.nodes) checkNodeName(node.name, file);
  return inventory;
}

function parseInFormat(text: string, file: string): Inventory {
  if (isKubeKeyConfig(text)) return parseKubeKey(text, file);
  if (/^nodes:/m.test(text) || /^defaults:/m.test(text)) return parseKpkiInventory(text, file);
  // INI: section headers on their own lines; a YAML inventory starts with a group mapping
  if (/\.(ini|cfg)$/i.test(file) || (/^\s*\[[\w:.-]+\]\s*$/m.test(text) && !/^[\w.-]+:\s*$/m.test(text)))
    return parseKubesprayIni(text, file);
  return parseKubesprayYaml(text, file);
}

export function loadInventory(file: string, overrides: { knownHosts?: string; sshConfig?: string } = {}): Inventory {
  let text: string;
  try {
    text = readRegularText(file);
  } catch (err) {
    throw new UsageError(`cannot read the inventory ${file}: ${(err as Error).message}`);
  }
  const inventory = parseAnyInventory(text, file);
  applySshConfig(inventory, overrides.sshConfig);
  if (overrides.knownHosts) for (const n of inventory.nodes) n.knownHosts = overrides.knownHosts;
  return inventory;
}
