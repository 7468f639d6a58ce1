// kpki's inventory format (errors name the file and line) and OpenSSH known_hosts matching (plain and hashed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { parseKpkiInventory as parseInventory } from '../../src/cluster/inventory/kpki.js';
import { selectNodes } from '../../src/cluster/inventory/model.js';
import { checkHostKey, knownHostsName } from '../../src/hosts/known-hosts.js';

test('an inventory: defaults apply to every node, paths are expanded, --nodes selects', () => {
  const inv = parseInventory(
    'defaults:\n  user: ops\n  key: keys/id\n  sudo: true\nnodes:\n  - {name: a, address: 127.0.0.11, role: control-plane}\n  - {name: b, address: 127.0.0.12, role: worker, port: 2222, user: root}\n',
    '/etc/kpki/cluster.yaml',
  );
  assert.deepEqual(
    inv.nodes.map((n) => [n.name, n.user, n.port, n.sudo, n.key]),
    [
      ['a', 'ops', 22, true, '/etc/kpki/keys/id'],
      ['b', 'root', 2222, true, '/etc/kpki/keys/id'],
    ],
  );
  assert.deepEqual(
    selectNodes(inv, 'b').map((n) => n.name),
    ['b'],
  );
  assert.throws(() => selectNodes(inv, 'c'), /--nodes: no node "c" in \/etc\/kpki\/cluster\.yaml/);
});

test('inventory errors name the file and the line', () => {
  assert.throws(
    () => parseInventory('nodes:\n  - {name: a, address: x, role: control-plane}\n  - {name: b, address: y, role: master}\n', 'c.yaml'),
    /^Error: c\.yaml:3: node "b": role must be control-plane or worker, not "master"/,
  );
  assert.throws(
    () => parseInventory('nodes:\n  - {name: a, address: x, role: worker}\n  - {name: a, address: y, role: worker}\n', 'c.yaml'),
    /c\.yaml:3: node "a" is listed twice/,
  );
  assert.throws(() => parseInventory('nodes:\n  - {name: a, adress: x, role: worker}\n', 'c.yaml'), /c\.yaml:2: unknown key "adress"/);
  assert.throws(() => parseInventory('nodes: []\n', 'c.yaml'), /c\.yaml:1: "nodes:" must be a non-empty list/);
  assert.throws(() => parseInventory('nodes: [\n', 'c.yaml'), /c\.yaml:\d+: not valid YAML/);
});

test('known_hosts: plain and hashed names, [host]:port, changed and unknown keys', () => {
  const key = Buffer.from('key-one');
  const other = Buffer.from('key-two');
  const salt = Buffer.from('0123456789abcdef0123');
  const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[127.0.0.12]:2222').digest('base64')}`;
  const text = `# comment\n127.0.0.11,lab-cp1 ssh-ed25519 ${key.toString('base64')}\n${hashed} ssh-ed25519 ${key.toString('base64')}\n`;
  assert.equal(knownHostsName('127.0.0.12', 2222), '[127.0.0.12]:2222');
  assert.equal(checkHostKey(text, '127.0.0.11', key), 'match');
  assert.equal(checkHostKey(text, 'lab-cp1', key), 'match');
  assert.equal(checkHostKey(text, '[127.0.0.12]:2222', key), 'match');
  assert.equal(checkHostKey(text, '127.0.0.11', other), 'changed');
  assert.equal(checkHostKey(text, '127.0.0.13', key), 'unknown');
});
