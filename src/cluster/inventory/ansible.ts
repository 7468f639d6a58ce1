// Ansible inventories as Kubespray users keep them, YAML (hosts.yaml) or INI (inventory.ini), read into one model:
// groups with hosts, children and vars, and each host's own vars with the line that defined them.
import { isMap, isScalar, LineCounter, parseDocument, Node as YamlNode, YAMLMap } from 'yaml';
import { expandRange, inventoryError } from './model.js';

export type Vars = Record<string, unknown>;

export interface AnsibleGroup {
  hosts: string[];
  children: string[];
  vars: Vars;
}

export interface AnsibleInventory {
  groups: Map<string, AnsibleGroup>;
  hostVars: Map<string, Vars>;
  /** file:line where a host (or a var) was defined, for messages. */
  where: Map<string, string>;
}

function group(inv: AnsibleInventory, name: string): AnsibleGroup {
  let g = inv.groups.get(name);
  if (!g) inv.groups.set(name, (g = { hosts: [], children: [], vars: {} }));
  return g;
}

function addHost(inv: AnsibleInventory, groupName: string, host: string, vars: Vars, where: string): void {
  const g = group(inv, groupName);
  if (!g.hosts.includes(host)) g.hosts.push(host);
  inv.hostVars.set(host, { ...(inv.hostVars.get(host) ?? {}), ...vars });
  if (!inv.where.has(host)) inv.where.set(host, where);
}

export function parseAnsibleYaml(text: string, file: string): AnsibleInventory {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const where = (node: YamlNode | null | undefined) => (node?.range ? `${file}:${lines.linePos(node.range[0]).line}` : file);
  if (doc.errors.length > 0)
    inventoryError(`${file}:${doc.errors[0].linePos?.[0].line ?? '?'}`, `not valid YAML: ${doc.errors[0].message.split('\n')[0]}`);
  if (!isMap(doc.contents)) inventoryError(file, 'expected an Ansible inventory (a mapping of groups: all: {hosts, children, vars})');
  const inv: AnsibleInventory = { groups: new Map(), hostVars: new Map(), where: new Map() };
  const walk = (name: string, body: YamlNode | null, at: string) => {
    group(inv, name);
    if (body === null || (isScalar(body) && body.value === null)) return;
    if (!isMap(body)) inventoryError(at, `group "${name}" must be a mapping of hosts, children and vars`);
    for (const pair of (body as YAMLMap<YamlNode, YamlNode | null>).items) {
      const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
      const value = pair.value;
      const keyAt = where(pair.key);
      if (key === 'vars') {
        if (value && !isMap(value)) inventoryError(keyAt, `vars of group "${name}" must be a mapping`);
        Object.assign(group(inv, name).vars, value ? (value.toJSON() as Vars) : {});
      } else if (key === 'hosts') {
        if (!value || (isScalar(value) && value.value === null)) continue;
        if (!isMap(value)) inventoryError(keyAt, `hosts of group "${name}" must be a mapping (host: vars)`);
        for (const h of (value as YAMLMap<YamlNode, YamlNode | null>).items) {
          const vars = h.value && isMap(h.value) ? (h.value.toJSON() as Vars) : {};
          if (h.value && !isMap(h.value) && !(isScalar(h.value) && h.value.value === null))
            inventoryError(where(h.key), `host "${String(h.key)}" must map to its vars or nothing`);
          for (const host of expandRange(String(isScalar(h.key) ? h.key.value : h.key), where(h.key)))
            addHost(inv, name, host, vars, where(h.key));
        }
      } else if (key === 'children') {
        if (!value || (isScalar(value) && value.value === null)) continue;
        if (!isMap(value)) inventoryError(keyAt, `children of group "${name}" must be a mapping of groups`);
        for (const c of (value as YAMLMap<YamlNode, YamlNode | null>).items) {
          const child = String(isScalar(c.key) ? c.key.value : c.key);
          if (!group(inv, name).children.includes(child)) group(inv, name).children.push(child);
          walk(child, c.value, where(c.key));
        }
      } else inventoryError(keyAt, `unknown key "${key}" in group "${name}" (expected hosts, children, vars)`);
    }
  };
  for (const pair of (doc.contents as YAMLMap<YamlNode, YamlNode | null>).items) {
    const name = String(isScalar(pair.key) ? pair.key.value : pair.key);
    walk(name, pair.value, where(pair.key));
    if (name !== 'all' && !group(inv, 'all').children.includes(name)) group(inv, 'all').children.push(name);
  }
  return inv;
}

/** key=value words of an INI host or vars line; values may be quoted. */
function words(text: string): string[] {
  return [...text.matchAll(/(?:[^\s"']+|"(?:[^"\\]|\\.)*"|'[^']*')+/g)].map((m) => m[0]);
}

function unquote(value: string): string {
  return value.replace(/^"(.*)"$/s, '$1').replace(/^'(.*)'$/s, '$1');
}

/** INI values as Ansible reads them: true/false and numbers are typed, the rest strings. */
function iniValue(raw: string): unknown {
  const v = unquote(raw);
  if (v !== raw) return v;
  if (/^(true|yes)$/i.test(v)) return true;
  if (/^(false|no)$/i.test(v)) return false;
  if (/^\d+$/.test(v)) return Number(v);
  return v;
}

export function parseAnsibleIni(text: string, file: string): AnsibleInventory {
  const inv: AnsibleInventory = { groups: new Map(), hostVars: new Map(), where: new Map() };
  let section = 'ungrouped';
  let kind: 'hosts' | 'vars' | 'children' = 'hosts';
  group(inv, 'all');
  text.split('\n').forEach((raw, i) => {
    const at = `${file}:${i + 1}`;
    const line = raw.replace(/^\s+|\s+$/g, '');
    if (!line || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([^\]:]+)(?::(vars|children))?\]$/.exec(line);
    if (header) {
      section = header[1];
      kind = (header[2] as 'vars' | 'children' | undefined) ?? 'hosts';
      group(inv, section);
      if (section !== 'all' && !group(inv, 'all').children.includes(section)) group(inv, 'all').children.push(section);
      return;
    }
    if (line.startsWith('[')) inventoryError(at, `"${line}" is not a section header ([group], [group:vars] or [group:children])`);
    if (kind === 'vars') {
      const m = /^([\w.-]+)\s*=\s*(.*)$/.exec(line);
      if (!m) inventoryError(at, `expected name=value in [${section}:vars], not "${line}"`);
      group(inv, section).vars[m[1]] = iniValue(m[2]);
    } else if (kind === 'children') {
      if (!group(inv, section).children.includes(line)) group(inv, section).children.push(line);
      group(inv, line);
    } else {
      const [host, ...rest] = words(line);
      const vars: Vars = {};
      for (const w of rest) {
        const eq = w.indexOf('=');
        if (eq <= 0) inventoryError(at, `host "${host}": expected name=value, not "${w}"`);
        vars[w.slice(0, eq)] = iniValue(w.slice(eq + 1));
      }
      for (const h of expandRange(host, at)) addHost(inv, section, h, vars, at);
    }
  });
  return inv;
}

/** Every host of a group, through its children. */
export function membersOf(inv: AnsibleInventory, name: string, seen = new Set<string>()): string[] {
  const g = inv.groups.get(name);
  if (!g || seen.has(name)) return [];
  seen.add(name);
  return [...new Set([...g.hosts, ...g.children.flatMap((c) => membersOf(inv, c, seen))])];
}

/** A host's vars as Ansible resolves them: all's vars, then parent groups before their children, then the host's. */
export function varsOf(inv: AnsibleInventory, host: string): Vars {
  const depth = new Map<string, number>();
  const visit = (name: string, d: number, path: Set<string>) => {
    if (path.has(name)) return;
    depth.set(name, Math.max(depth.get(name) ?? 0, d));
    for (const c of inv.groups.get(name)?.children ?? []) visit(c, d + 1, new Set([...path, name]));
  };
  visit('all', 0, new Set());
  const groups = [...inv.groups.keys()].filter((g) => g === 'all' || membersOf(inv, g).includes(host));
  groups.sort((a, b) => (depth.get(a) ?? 1) - (depth.get(b) ?? 1) || a.localeCompare(b));
  return Object.assign({}, ...groups.map((g) => inv.groups.get(g)!.vars), inv.hostVars.get(host) ?? {});
}
