// Inventories users already have, pointed at the lab nodes and used as they are: a Kubespray hosts.yaml and
// inventory.ini, a KubeKey config; a jump host (OpenSSH's ProxyJump) through one lab node's sshd; a login user that
// is not root, reaching root through sudo (SFTP as `sudo -n sftp-server`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabNode } from '../../../lab/lab.js';
import { kpkiAsync } from '../../helpers/kpki.js';
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

test("a jump host: nodes reached through lab-cp1's sshd (its host key checked too); a jump host that is down makes them unreachable", {
  skip,
}, async () => {
  const cluster = lab();
  const [cp1] = cluster.controlPlanes;
  const inventory = (jump: string) => {
    const file = join(cluster.dir, 'jump.yaml');
    writeFileSync(
      file,
      `defaults: { user: root, key: ${cluster.sshKey}, knownHosts: ${cluster.knownHosts}, jump: "${jump}" }\nnodes:\n${cluster.nodes
        .slice(1)
        .map((n) => `  - { name: ${n.name}, address: ${n.address}, role: ${n.role} }`)
        .join('\n')}\n`,
    );
    return file;
  };
  const through = await kpkiAsync(['check', '-i', inventory(`root@${cp1.address}:22`)]);
  assert.equal(through.status, 0, through.stdout + through.stderr);
  assert.deepEqual(summary(through.stdout), EXPECTED.slice(1));
  // nothing listens on port 2 of cp1: if the hop were not taken, the nodes would still answer
  const down = await kpkiAsync(['check', '-i', inventory(`root@${cp1.address}:2`), '--nodes', 'lab-cp2']);
  assert.equal(down.status, 3, down.stdout + down.stderr);
  assert.match(
    down.stdout,
    /lab-cp2 \(127\.0\.0\.12\): UNKNOWN: jump host root@127\.0\.0\.11 \(\[127\.0\.0\.11\]:2\): SSH: connect ECONNREFUSED/,
  );
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
