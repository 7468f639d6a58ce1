// The SSH config as ssh reads it (ssh_config(5)): first value wins, Host patterns with negation, Match host / user /
// originalhost, Include (also inside a Host block), tokens, and what kpki refuses to guess (ProxyCommand, Match exec).
// Checked against OpenSSH's own reading where this machine has it: `ssh -G` prints what ssh would use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loadSshConfig, resolveSshOptions } from '../../src/hosts/ssh-config.js';
import { applySshConfig } from '../../src/cluster/inventory/ssh-settings.js';
import { parseAnyInventory } from '../../src/cluster/inventory/load.js';
import { removeTree, tempRoot } from '../helpers/kpki.js';

function configIn(dir: string, text: string, extra: Record<string, string> = {}): string {
  for (const [name, body] of Object.entries(extra)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), body);
  }
  const file = join(dir, 'config');
  writeFileSync(file, text);
  return file;
}

const CONFIG = (dir: string) => `# the operator's ~/.ssh/config
Include ${dir}/conf.d/*.conf
Host bastion
  HostName 127.0.0.19
  User jump
Host !cp3 cp*
  User admin
  IdentityFile ~/.ssh/fleet_%h
  IdentityFile ${dir}/second
Host cp1
  HostName 127.0.0.11
  Port 2222
  User ignored-because-first-wins
Host cp3
  HostName=127.0.0.13
  ProxyJump bastion
  StrictHostKeyChecking accept-new
  CertificateFile ${dir}/id-cert.pub
  UserKnownHostsFile ${dir}/known_a ${dir}/known_b
  ConnectTimeout 7
  IdentitiesOnly yes
Match host 127.0.0.1? user admin
  HostKeyAlias fleet-alias
Host *
  User fallback
  Port 22
`;

test('first value wins, Host negation, Match host/user after HostName, tokens, Include, every keyword kpki honours', () => {
  const dir = tempRoot('kpki-sshcfg-');
  try {
    const file = configIn(dir, CONFIG(dir), { 'conf.d/a.conf': 'Host cp2\n  HostName 127.0.0.12\n  Port 2200\n' });
    const config = loadSshConfig([file]);
    const cp1 = resolveSshOptions(config, { original: 'cp1' });
    assert.equal(cp1.hostName, '127.0.0.11');
    assert.equal(cp1.user, 'admin');
    assert.equal(cp1.port, 2222);
    assert.deepEqual(cp1.identityFiles, [join(homedir(), '.ssh/fleet_127.0.0.11'), join(dir, 'second')]);
    assert.equal(cp1.hostKeyAlias, 'fleet-alias', 'Match host matched the HostName, user the User set before it');
    const cp2 = resolveSshOptions(config, { original: 'cp2' });
    assert.deepEqual([cp2.hostName, cp2.port, cp2.user], ['127.0.0.12', 2200, 'admin'], 'from the included file');
    const cp3 = resolveSshOptions(config, { original: 'cp3' });
    assert.deepEqual(
      [cp3.hostName, cp3.user, cp3.proxyJump, cp3.strictHostKeyChecking, cp3.connectTimeoutMs, cp3.identitiesOnly],
      ['127.0.0.13', 'fallback', 'bastion', 'accept-new', 7000, true],
    );
    assert.deepEqual(cp3.certificateFiles, [join(dir, 'id-cert.pub')]);
    assert.deepEqual(cp3.userKnownHostsFiles, [join(dir, 'known_a'), join(dir, 'known_b')]);
    assert.equal(cp3.hostKeyAlias, undefined, 'Match user admin: cp3 is fallback');
    const other = resolveSshOptions(config, { original: 'db1', user: 'given' });
    assert.deepEqual([other.user, other.port, other.hostName], ['fallback', 22, undefined]);
  } finally {
    removeTree(dir);
  }
});

test('OpenSSH reads the same config the same way (ssh -G), for every host above', {
  skip: spawnSync('ssh', ['-V']).error && 'no ssh client',
}, () => {
  const dir = tempRoot('kpki-sshcfg-');
  try {
    const file = configIn(dir, CONFIG(dir), { 'conf.d/a.conf': 'Host cp2\n  HostName 127.0.0.12\n  Port 2200\n' });
    const config = loadSshConfig([file]);
    for (const host of ['cp1', 'cp2', 'cp3', 'db1', 'bastion']) {
      const g = spawnSync('ssh', ['-G', '-F', file, host], { encoding: 'utf8' });
      assert.equal(g.status, 0, g.stderr);
      const said = new Map(g.stdout.split('\n').map((l) => [l.split(' ')[0], l.slice(l.indexOf(' ') + 1)]));
      const o = resolveSshOptions(config, { original: host });
      assert.equal(o.hostName ?? host, said.get('hostname'), `${host} hostname`);
      assert.equal(o.user ?? 'root', said.get('user'), `${host} user`);
      assert.equal(String(o.port ?? 22), said.get('port'), `${host} port`);
      assert.equal(o.proxyJump ?? 'none', said.get('proxyjump') ?? 'none', `${host} proxyjump`);
      if (o.identityFiles.length)
        assert.deepEqual(
          o.identityFiles,
          [...g.stdout.matchAll(/^identityfile (.*)$/gm)].map((m) => m[1].replace(/^~/, homedir()).replace('%h', said.get('hostname')!)),
          `${host} identities`,
        );
      if (o.hostKeyAlias) assert.equal(o.hostKeyAlias, said.get('hostkeyalias'), `${host} alias`);
    }
  } finally {
    removeTree(dir);
  }
});

test('Include inside a Host block applies only to that host; ProxyCommand and Match exec are refused with their line', () => {
  const dir = tempRoot('kpki-sshcfg-');
  try {
    const file = configIn(dir, `Host special\n  Include ${dir}/special.conf\n  User after\nHost *\n  User default\n`, {
      'special.conf': 'Port 2022\nHost *\n  User from-include\n',
    });
    const config = loadSshConfig([file]);
    assert.deepEqual(
      [resolveSshOptions(config, { original: 'special' }).port, resolveSshOptions(config, { original: 'special' }).user],
      [2022, 'from-include'],
    );
    assert.deepEqual(
      [resolveSshOptions(config, { original: 'other' }).port, resolveSshOptions(config, { original: 'other' }).user],
      [undefined, 'default'],
    );
    const proxy = loadSshConfig([configIn(dir, 'Host a\n  ProxyCommand none\nHost b\n  ProxyCommand ssh -W %h:%p x\n')]);
    assert.deepEqual(resolveSshOptions(proxy, { original: 'a' }).unsupported, []);
    assert.deepEqual(resolveSshOptions(proxy, { original: 'b' }).unsupported, [`proxycommand (${join(dir, 'config')}:4)`]);
    const exec = loadSshConfig([configIn(dir, 'Match host b exec "test -f /x"\n  User x\n')]);
    assert.equal(resolveSshOptions(exec, { original: 'a' }).user, undefined, 'not evaluated for a host it does not concern');
    assert.throws(() => resolveSshOptions(exec, { original: 'b' }), /config:1: kpki cannot evaluate "Match exec" as ssh does/);
  } finally {
    removeTree(dir);
  }
});

test('an inventory with names only takes address, user, port, keys and jump from the SSH config; what the inventory gives wins', () => {
  const dir = tempRoot('kpki-sshcfg-');
  try {
    const file = configIn(dir, CONFIG(dir));
    const inventory = parseAnyInventory(
      'nodes:\n  - { name: cp1, role: control-plane }\n  - { name: cp3, role: control-plane, user: root }\n  - { name: w1, address: 127.0.0.14, port: 22, role: worker }\n',
      join(dir, 'inv.yaml'),
    );
    applySshConfig(inventory, file);
    const [cp1, cp3, w1] = inventory.nodes;
    assert.deepEqual([cp1.address, cp1.user, cp1.port, cp1.keyFiles?.length], ['127.0.0.11', 'admin', 2222, 2]);
    assert.deepEqual(
      [cp3.address, cp3.user, cp3.jump?.address, cp3.jump?.user, cp3.acceptNewHostKeys, cp3.knownHosts],
      ['127.0.0.13', 'root', '127.0.0.19', 'jump', true, join(dir, 'known_a')],
    );
    assert.deepEqual([w1.address, w1.user, w1.port], ['127.0.0.14', 'fallback', 22], 'a Kubespray-like address is matched as the host');
    const ini = parseAnyInventory('[kube_control_plane]\ncp1\n\n[kube_node]\ncp2 ansible_user=root\n', join(dir, 'hosts.ini'));
    applySshConfig(ini, file);
    assert.deepEqual(
      ini.nodes.map((n) => [n.name, n.address, n.user, n.sudo]),
      [
        ['cp1', '127.0.0.11', 'admin', true],
        ['cp2', 'cp2', 'root', false],
      ],
    );
    applySshConfig((() => parseAnyInventory('nodes:\n  - { name: cp1, role: control-plane }\n', join(dir, 'i2.yaml')))(), 'none');
  } finally {
    removeTree(dir);
  }
});

test("Debian's own /etc/ssh/ssh_config (SendEnv, HashKnownHosts, GSSAPIAuthentication) asks nothing kpki cannot do", () => {
  const dir = tempRoot('kpki-sshcfg-');
  try {
    const file = configIn(
      dir,
      `Include ${dir}/ssh_config.d/*.conf\nHost *\n    SendEnv LANG LC_*\n    HashKnownHosts yes\n    GSSAPIAuthentication yes\n`,
    );
    const o = resolveSshOptions(loadSshConfig([file]), { original: 'cp1' });
    assert.deepEqual(o.unsupported, []);
    assert.deepEqual([o.user, o.port, o.hostName, o.identityFiles], [undefined, undefined, undefined, []]);
  } finally {
    removeTree(dir);
  }
});
