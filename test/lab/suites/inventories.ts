// Inventories users already have, pointed at the lab nodes and used as they are: a Kubespray hosts.yaml and
// inventory.ini, a KubeKey config; a jump host (OpenSSH's ProxyJump) through a bastion's sshd; an SSH config as the
// operator's ssh reads it (names only, certificates of an SSH CA); a login user that is not root, reaching root
// through sudo (SFTP as `sudo -n sftp-server`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabNode } from '../../../lab/lab.js';
import { kpkiAsync } from '../../helpers/kpki.js';
import { startBastion } from '../../helpers/bastion.js';
import { lab, skip } from './shared.js';

const summary = (stdout: string) =>
  [...stdout.matchAll(/^(lab-\w+) \(127\.0\.0\.\d+, (control-plane|worker)\): (\w+):/gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
const EXPECTED = ['lab-cp1 control-plane ok', 'lab-cp2 control-plane ok', 'lab-cp3 control-plane ok', 'lab-w1 worker ok'];

test('a Kubespray hosts.yaml and inventory.ini pointing at the lab are read as they are and check every node', { skip }, async () => {
  const cluster = lab();
  const [cp1, cp2, cp3] = cluster.controlPlanes;
  const [w1] = cluster.workers;
  const yaml = join(cluster.dir, 'hosts.yaml');
  writeFileSync(
    yaml,
    `all:\n  hosts:\n${cluster.nodes.map((n) => `    ${n.name}:\n      ansible_host: ${n.address}\n      ip: ${n.address}\n`).join('')}` +
      `  vars:\n    ansible_user: root\n    ansible_ssh_private_key_file: ${cluster.sshKey}\n    ansible_ssh_common_args: '-o UserKnownHostsFile=${cluster.knownHosts}'\n` +
      `  children:\n    kube_control_plane:\n      hosts:\n        ${cp1.name}:\n        ${cp2.name}:\n        ${cp3.name}:\n    kube_node:\n      hosts:\n        ${w1.name}:\n    etcd:\n      hosts:\n        ${cp1.name}:\n        ${cp2.name}:\n        ${cp3.name}:\n    k8s_cluster:\n      children:\n        kube_control_plane:\n        kube_node:\n`,
  );
  const r = await kpkiAsync(['check', '-i', yaml]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.deepEqual(summary(r.stdout), EXPECTED);
  // the same inventory drives a rollout (its plan here) and the cluster health
  const plan = await kpkiAsync(['renew', '-i', yaml, 'all', '--dry-run']);
  assert.equal(plan.status, 0, plan.stdout + plan.stderr);
  for (const n of [cp1, cp2, cp3])
    assert.match(
      plan.stdout,
      new RegExp(`== ${n.name} \\(${n.address.replace(/\./g, '\\.')}, control-plane\\)\nRenewal plan for ${n.name}`),
    );
  const health = await kpkiAsync(['health', '-i', yaml]);
  assert.equal(health.status, 0, health.stdout + health.stderr);
  const ini = join(cluster.dir, 'inventory.ini');
  writeFileSync(
    ini,
    `[all]\n${cluster.nodes.map((n) => `${n.name} ansible_host=${n.address}`).join('\n')}\n\n[all:vars]\nansible_user=root\nansible_ssh_private_key_file=${cluster.sshKey}\n\n[kube_control_plane]\n${cp1.name}\n${cp2.name}\n${cp3.name}\n\n[kube_node]\n${w1.name}\n\n[k8s_cluster:children]\nkube_control_plane\nkube_node\n`,
  );
  const fromIni = await kpkiAsync(['check', '-i', ini, '--known-hosts', cluster.knownHosts, '-o', 'json']);
  assert.equal(fromIni.status, 0, fromIni.stdout + fromIni.stderr);
  assert.deepEqual(
    JSON.parse(fromIni.stdout).nodes.map((n: { node: string; role: string }) => `${n.node} ${n.role}`),
    ['lab-cp1 control-plane', 'lab-cp2 control-plane', 'lab-cp3 control-plane', 'lab-w1 worker'],
  );
});

test('a KubeKey config pointing at the lab is read as it is (spec.hosts, roleGroups) and checks every node', { skip }, async () => {
  const cluster = lab();
  const file = join(cluster.dir, 'config-sample.yaml');
  const hosts = cluster.nodes
    .map(
      (n) => `  - {name: ${n.name}, address: ${n.address}, internalAddress: ${n.address}, user: root, privateKeyPath: "${cluster.sshKey}"}`,
    )
    .join('\n');
  writeFileSync(
    file,
    `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: lab\nspec:\n  hosts:\n${hosts}\n  roleGroups:\n    etcd:\n    - lab-cp[1:3]\n    control-plane:\n    - lab-cp[1:3]\n    worker:\n    - lab-w1\n  controlPlaneEndpoint:\n    address: 127.0.0.10\n    port: 6443\n`,
  );
  const r = await kpkiAsync(['check', '-i', file, '--known-hosts', cluster.knownHosts]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.deepEqual(summary(r.stdout), EXPECTED);
});

/** The bastion of the lab's jump host tests (127.0.0.19, beside the nodes), and known_hosts with its key added. */
async function withBastion<T>(use: (b: { address: string; knownHosts: string }) => Promise<T>): Promise<T> {
  const cluster = lab();
  const bastion = await startBastion({
    address: '127.0.0.19',
    dir: join(cluster.dir, 'bastion'),
    authorizedKeys: join(cluster.dir, 'ssh', 'authorized_keys'),
  });
  try {
    const knownHosts = join(cluster.dir, 'bastion', 'known_hosts');
    writeFileSync(knownHosts, `${readFileSync(cluster.knownHosts, 'utf8')}${bastion.knownHostsLine}\n`);
    return await use({ address: bastion.address, knownHosts });
  } finally {
    await bastion.stop();
  }
}

test('a jump host: nodes that refuse forwarding reached through a bastion that allows it (its host key checked too); a jump host that is down makes them unreachable', {
  skip,
}, async () => {
  const cluster = lab();
  await withBastion(async (bastion) => {
    const inventory = (jump: string) => {
      const file = join(cluster.dir, 'jump.yaml');
      writeFileSync(
        file,
        `defaults: { user: root, key: ${cluster.sshKey}, knownHosts: ${bastion.knownHosts}, jump: "${jump}" }\nnodes:\n${cluster.nodes
          .map((n) => `  - { name: ${n.name}, address: ${n.address}, role: ${n.role} }`)
          .join('\n')}\n`,
      );
      return file;
    };
    const through = await kpkiAsync(['check', '-i', inventory(`root@${bastion.address}:22`)]);
    assert.equal(through.status, 0, through.stdout + through.stderr);
    assert.deepEqual(summary(through.stdout), EXPECTED);
    // nothing listens on port 2 of the bastion: if the hop were not taken, the nodes would still answer
    const down = await kpkiAsync(['check', '-i', inventory(`root@${bastion.address}:2`), '--nodes', 'lab-cp2']);
    assert.equal(down.status, 3, down.stdout + down.stderr);
    assert.match(
      down.stdout,
      /lab-cp2 \(127\.0\.0\.12\): UNKNOWN: jump host root@127\.0\.0\.19 \(\[127\.0\.0\.19\]:2\): SSH: connect ECONNREFUSED/,
    );
    // a node that refuses forwarding is no jump host: ssh says so, and so does kpki
    const refused = await kpkiAsync(['check', '-i', inventory(`root@${cluster.node(1).address}:22`), '--nodes', 'lab-cp2']);
    assert.equal(refused.status, 3, refused.stdout + refused.stderr);
    assert.match(
      refused.stdout,
      /lab-cp2 \(127\.0\.0\.12\): UNKNOWN: lab-cp2: the jump host 127\.0\.0\.11 cannot reach 127\.0\.0\.12:22: .*(prohibited|open failed)/,
    );
  });
});

/**
 * A user key the nodes do not list, certified by the lab's SSH CA (ssh-keygen -s, principals root and ops), as a
 * vault issues SSH access. Returns the key file; its certificate is "<key>-cert.pub" beside it.
 */
function certifiedKey(dir: string, type: 'ed25519' | 'ecdsa' | 'rsa'): string {
  const key = join(dir, `id_${type}`);
  rmSync(key, { force: true });
  rmSync(`${key}.pub`, { force: true });
  spawnSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-f', key]);
  const signed = spawnSync(
    'ssh-keygen',
    ['-q', '-s', lab().userCa, '-I', `kpki-test-${type}`, '-n', 'root,ops', '-V', '+1h', `${key}.pub`],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(signed.status, 0, signed.stderr);
  return key;
}

test("SSH as the operator's ssh sees it: an inventory of names only, every setting from an SSH config (--ssh-config, as ssh -F): HostName, User, IdentityFile with an SSH CA's certificate, ProxyJump through a bastion, UserKnownHostsFile, IdentitiesOnly", {
  skip,
}, async () => {
  const cluster = lab();
  const dir = join(cluster.dir, 'ssh-config');
  mkdirSync(dir, { recursive: true });
  const certified = certifiedKey(dir, 'ed25519');
  await withBastion(async (bastion) => {
    const config = join(dir, 'config');
    writeFileSync(
      config,
      [
        "# the operator's ~/.ssh/config, as Ansible uses it too",
        'Host bastion',
        `  HostName ${bastion.address}`,
        '  User root',
        `  IdentityFile ${cluster.sshKey}`,
        ...cluster.nodes.flatMap((n) => [`Host ${n.name.replace('lab-', 'fleet-')}`, `  HostName ${n.address}`]),
        'Host fleet-w1',
        '  User ops',
        'Host fleet-cp3',
        '  ProxyJump bastion',
        'Host fleet-*',
        '  User root',
        `  IdentityFile ${certified}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${bastion.knownHosts}`,
        '  StrictHostKeyChecking yes',
        '',
      ].join('\n'),
    );
    const names = join(dir, 'names.yaml');
    writeFileSync(
      names,
      `nodes:\n${cluster.nodes.map((n) => `  - { name: ${n.name.replace('lab-', 'fleet-')}, role: ${n.role}${n.role === 'worker' ? ', sudo: true' : ''} }`).join('\n')}\n`,
    );
    const r = await kpkiAsync(['check', '-i', names, '--ssh-config', config]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(
      [...r.stdout.matchAll(/^(fleet-\w+) \((127\.0\.0\.\d+), (control-plane|worker)\): (\w+):/gm)].map((m) => m.slice(1).join(' ')),
      [
        'fleet-cp1 127.0.0.11 control-plane ok',
        'fleet-cp2 127.0.0.12 control-plane ok',
        'fleet-cp3 127.0.0.13 control-plane ok',
        'fleet-w1 127.0.0.14 worker ok',
      ],
    );
    // a Kubespray inventory.ini of host names, as Ansible reads it with the same config
    const ini = join(dir, 'inventory.ini');
    writeFileSync(ini, '[kube_control_plane]\nfleet-cp1\nfleet-cp2\n\n[kube_node]\nfleet-w1\n');
    const kubespray = await kpkiAsync(['check', '-i', ini, '--ssh-config', config]);
    assert.equal(kubespray.status, 0, kubespray.stdout + kubespray.stderr);
    // the inventory wins over the config: the SSH config says ops for fleet-w1, the inventory root (without sudo, as
    // ops could not read the node's keys)
    const inventoryWins = join(dir, 'wins.yaml');
    writeFileSync(inventoryWins, 'nodes:\n  - { name: fleet-w1, role: worker, user: root }\n');
    const wins = await kpkiAsync(['check', '-i', inventoryWins, '--ssh-config', config]);
    assert.equal(wins.status, 0, wins.stdout + wins.stderr);
    // the certificate is what logs in: without it (the key alone is in no authorized_keys) every node refuses
    rmSync(`${certified}-cert.pub`);
    const without = await kpkiAsync(['check', '-i', names, '--ssh-config', config, '--nodes', 'fleet-cp1']);
    assert.equal(without.status, 3, without.stdout + without.stderr);
    assert.match(without.stdout, /fleet-cp1 \(127\.0\.0\.11\): UNKNOWN: .*All configured authentication methods failed/);
  });
});

test('user certificates of every key type the nodes accept (ECDSA, RSA with SHA-2 signatures), named with CertificateFile', {
  skip,
}, async () => {
  const cluster = lab();
  const dir = join(cluster.dir, 'ssh-certs');
  mkdirSync(dir, { recursive: true });
  for (const type of ['ecdsa', 'rsa'] as const) {
    const key = certifiedKey(dir, type);
    const cert = join(dir, `${type}.cert`);
    copyFileSync(`${key}-cert.pub`, cert);
    rmSync(`${key}-cert.pub`);
    const config = join(dir, `config-${type}`);
    writeFileSync(config, `Host ${cluster.node(2).address}\n  IdentityFile ${key}\n  CertificateFile ${cert}\n  IdentitiesOnly yes\n`);
    const inventory = join(dir, `inv-${type}.yaml`);
    writeFileSync(
      inventory,
      `defaults: { user: root, knownHosts: ${cluster.knownHosts} }\nnodes:\n  - { name: lab-cp2, address: 127.0.0.12, role: control-plane }\n`,
    );
    const r = await kpkiAsync(['check', '-i', inventory, '--ssh-config', config]);
    assert.equal(r.status, 0, `${type}: ${r.stdout}${r.stderr}`);
  }
});

/** A login user "ops" with passwordless sudo, on one node only: its own passwd, shadow, group and sudoers, bind-mounted
 * in that node's mount namespace (the machine's files are not touched). Returns the undo. */
async function addSudoUser(node: LabNode, withSudo: boolean): Promise<() => Promise<void>> {
  const cluster = lab();
  const dir = join(node.dir, 'ops-user');
  mkdirSync(dir, { recursive: true });
  // a home the user can reach (the lab's directory is root's, 0700), with the lab's public key
  const home = mkdtempSync(join(tmpdir(), 'kpki-ops-'));
  mkdirSync(join(home, '.ssh'));
  copyFileSync(`${cluster.sshKey}.pub`, join(home, '.ssh', 'authorized_keys'));
  chmodSync(home, 0o755);
  chownSync(home, 1500, 1500);
  const files: Record<string, string> = {
    passwd: `${readFileSync('/etc/passwd', 'utf8')}ops:x:1500:1500:kpki test:${home}:/bin/sh\n`,
    group: `${readFileSync('/etc/group', 'utf8')}ops:x:1500:\n`,
    shadow: `${readFileSync('/etc/shadow', 'utf8')}ops:*:20000:0:99999:7:::\n`,
    sudoers: `Defaults env_reset\nDefaults secure_path="/usr/sbin:/usr/bin:/sbin:/bin"\nroot ALL=(ALL:ALL) ALL\n${withSudo ? 'ops ALL=(ALL:ALL) NOPASSWD: ALL\n' : ''}`,
  };
  const mounted: string[] = [];
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(dir, name), text, { mode: name === 'sudoers' ? 0o440 : name === 'shadow' ? 0o640 : 0o644 });
    // through the node's sshd: a process inside the node's PID namespace, where umount finds /proc/self
    const r = await cluster.ssh(node, `mount --bind ${join(dir, name)} /etc/${name}`);
    assert.equal(r.code, 0, r.stderr);
    mounted.push(`/etc/${name}`);
  }
  return async () => {
    for (const path of mounted.reverse()) {
      const r = await cluster.ssh(node, `umount ${path}`);
      assert.equal(r.code, 0, `umount ${path} on ${node.name}: ${r.stderr}`);
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  };
}

const haveSudo = spawnSync('test', ['-x', '/usr/bin/sudo']).status === 0;

test('a login user that is not root: files over SFTP as root through `sudo -n sftp-server`, programs through sudo -n; without sudo rights, a clear refusal', {
  skip: skip || (!haveSudo && 'sudo is not installed (.ci/run installs it)'),
}, async () => {
  const cluster = lab();
  const cp2 = cluster.node('lab-cp2');
  const file = join(cluster.dir, 'ops.yaml');
  writeFileSync(
    file,
    `defaults: { user: ops, sudo: true, key: ${cluster.sshKey}, knownHosts: ${cluster.knownHosts} }\nnodes:\n  - { name: lab-cp2, address: ${cp2.address}, role: control-plane }\n`,
  );
  let undo = await addSudoUser(cp2, true);
  try {
    // the keys under /etc/kubernetes/pki are root's, 0600: read through sudo, the node checks ok with its keys matched
    const r = await kpkiAsync(['check', '-i', file, '-o', 'json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const items = JSON.parse(r.stdout).nodes[0].certificates as { name: string; problems: string[] }[];
    assert.ok(
      items.some((c) => c.name === 'apiserver'),
      r.stdout.slice(0, 500),
    );
    const dry = await kpkiAsync(['renew', '-i', file, 'apiserver', '--dry-run']);
    assert.equal(dry.status, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /apiserver/);
  } finally {
    await undo();
  }
  undo = await addSudoUser(cp2, false);
  try {
    const refused = await kpkiAsync(['check', '-i', file]);
    assert.equal(refused.status, 3, refused.stdout + refused.stderr);
    assert.match(
      refused.stdout,
      /lab-cp2 \(127\.0\.0\.12\): UNKNOWN: lab-cp2: no SFTP session through sudo -n \(does the user have passwordless sudo\?\)/,
    );
  } finally {
    await undo();
  }
});
