// Kubespray (hosts.yaml and INI) and KubeKey inventories read as they are, with errors that name the file and line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { userInfo } from 'node:os';
import { parseAnyInventory } from '../../src/cluster/inventory/load.js';
import { expandRange, parseJump } from '../../src/cluster/inventory/model.js';

const row = (n: {
  name: string;
  address: string;
  role: string;
  port: number;
  user: string;
  sudo: boolean;
  key?: string;
  jump?: { address: string; port: number; user: string };
}) => [n.name, n.address, n.role, n.port, n.user, n.sudo, n.key ?? '', n.jump ? `${n.jump.user}@${n.jump.address}:${n.jump.port}` : ''];

// Kubespray's sample inventory shape (inventory/sample/hosts.yaml as contrib/inventory_builder writes it)
const KUBESPRAY_YAML = `all:
  hosts:
    node1:
      ansible_host: 127.0.0.11
      ip: 10.3.0.1
      access_ip: 10.3.0.1
    node2:
      ansible_host: 127.0.0.12
      ansible_port: 2222
    node3:
      ansible_host: 127.0.0.13
      ansible_user: root
    node4:
      ansible_host: 127.0.0.14
    etcd4:
      ansible_host: 127.0.0.15
  vars:
    ansible_user: ubuntu
    ansible_ssh_private_key_file: ~/.ssh/kubespray
  children:
    kube_control_plane:
      hosts:
        node1:
        node2:
        node3:
    kube_node:
      hosts:
        node1:
        node4:
    etcd:
      hosts:
        node1:
        node2:
        node3:
        etcd4:
    k8s_cluster:
      children:
        kube_control_plane:
        kube_node:
    calico_rr:
      hosts: {}
`;

test('Kubespray hosts.yaml: kube_control_plane and kube_node, ansible_* vars with group precedence, sudo for a user that is not root', () => {
  const inv = parseAnyInventory(KUBESPRAY_YAML, '/srv/inventory/mycluster/hosts.yaml');
  assert.equal(inv.format, 'kubespray');
  const home = process.env.HOME ?? '';
  assert.deepEqual(inv.nodes.map(row), [
    ['node1', '127.0.0.11', 'control-plane', 22, 'ubuntu', true, `${home}/.ssh/kubespray`, ''],
    ['node2', '127.0.0.12', 'control-plane', 2222, 'ubuntu', true, `${home}/.ssh/kubespray`, ''],
    ['node3', '127.0.0.13', 'control-plane', 22, 'root', false, `${home}/.ssh/kubespray`, ''],
    ['node4', '127.0.0.14', 'worker', 22, 'ubuntu', true, `${home}/.ssh/kubespray`, ''],
  ]);
  assert.match(inv.notes.join('\n'), /etcd-only hosts not included .*: etcd4/);
});

test('Kubespray inventory.ini: [all] host vars, [all:vars], :children, kube-master of old releases, bastion as jump host', () => {
  const ini = `# old-style Kubespray inventory
[all]
master1 ansible_host=127.0.0.11 ip=10.0.0.1 etcd_member_name=etcd1
master2 ansible_host=127.0.0.12 ansible_user="admin user"
worker[1:2]
bastion ansible_host=127.0.0.9 ansible_user=jump ansible_port=2200

[all:vars]
ansible_become=yes

[bastion]
bastion

[kube-master]
master1
master2

[etcd]
master1

[kube-node]
worker1
worker2

[k8s-cluster:children]
kube-master
kube-node

[kube-node:vars]
ansible_port=2022
`;
  const inv = parseAnyInventory(ini, '/srv/inventory.ini');
  assert.equal(inv.format, 'kubespray-ini');
  const me = userInfo().username;
  assert.deepEqual(inv.nodes.map(row), [
    ['master1', '127.0.0.11', 'control-plane', 22, me, true, '', 'jump@127.0.0.9:2200'],
    ['master2', '127.0.0.12', 'control-plane', 22, 'admin user', true, '', 'jump@127.0.0.9:2200'],
    ['worker1', 'worker1', 'worker', 2022, me, true, '', 'jump@127.0.0.9:2200'],
    ['worker2', 'worker2', 'worker', 2022, me, true, '', 'jump@127.0.0.9:2200'],
  ]);
  assert.match(inv.notes.join('\n'), /through the bastion bastion \(jump@127\.0\.0\.9:2200\)/);
});

test('Kubespray: ProxyJump and ProxyCommand in ansible_ssh_common_args become the jump host; UserKnownHostsFile is used', () => {
  const yaml = (args: string) =>
    `all:\n  hosts:\n    cp1: {ansible_host: 127.0.0.11, ansible_user: root}\n  vars:\n    ansible_ssh_common_args: '${args}'\n  children:\n    kube_control_plane:\n      hosts: {cp1: }\n`;
  assert.deepEqual(row(parseAnyInventory(yaml('-o ProxyJump=ops@127.0.0.9:2201'), 'h.yaml').nodes[0]).slice(-1), ['ops@127.0.0.9:2201']);
  assert.deepEqual(row(parseAnyInventory(yaml('-J 127.0.0.9'), 'h.yaml').nodes[0]).slice(-1), ['root@127.0.0.9:22']);
  const proxied = parseAnyInventory(
    yaml('-o ProxyCommand="ssh -W %h:%p -q -p 2202 ops@127.0.0.9" -o UserKnownHostsFile=/etc/kpki/known'),
    'h.yaml',
  ).nodes[0];
  assert.deepEqual(row(proxied).slice(-1), ['ops@127.0.0.9:2202']);
  assert.equal(proxied.knownHosts, '/etc/kpki/known');
  assert.throws(
    () => parseAnyInventory(yaml('-o ProxyCommand="nc -X 5 -x proxy:1080 %h %p"'), 'h.yaml'),
    /^Error: h\.yaml:3: ProxyCommand "nc -X 5 -x proxy:1080 %h %p" is not "ssh -W %h:%p \[user@\]host"/,
  );
});

test('Kubespray errors name the file and line: templates, unknown keys, not an inventory', () => {
  assert.throws(
    () =>
      parseAnyInventory(
        "all:\n  hosts:\n    cp1:\n      ansible_host: \"{{ lookup('env', 'CP1') }}\"\n  children:\n    kube_control_plane:\n      hosts: {cp1: }\n",
        'h.yaml',
      ),
    /^Error: h\.yaml:3: ansible_host is a Jinja template/,
  );
  assert.throws(() => parseAnyInventory('all:\n  hots:\n    cp1:\n', 'h.yaml'), /^Error: h\.yaml:2: unknown key "hots" in group "all"/);
  assert.throws(
    () => parseAnyInventory('all:\n  hosts:\n    a:\n', 'h.yaml'),
    /^Error: h\.yaml: no kube_control_plane .* not a Kubespray inventory\?/,
  );
  assert.throws(
    () => parseAnyInventory('[all]\nnode1 ansible_host\n[kube_node]\nnode1\n', 'i.ini'),
    /^Error: i\.ini:2: host "node1": expected name=value, not "ansible_host"/,
  );
});

const KUBEKEY = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata:
  name: sample
spec:
  hosts:
  - {name: master1, address: 127.0.0.11, internalAddress: 10.0.0.1, user: root, privateKeyPath: "~/.ssh/kk"}
  - {name: node1, address: 127.0.0.14, internalAddress: 10.0.0.4, port: 8022, user: ubuntu, password: "Qcloud@123"}
  - {name: node2, address: 127.0.0.15, internalAddress: 10.0.0.5}
  roleGroups:
    etcd:
    - master1
    control-plane:
    - master1
    worker:
    - master1
    - node[1:2]
  controlPlaneEndpoint:
    domain: lb.kubesphere.local
    address: ""
    port: 6443
---
apiVersion: installer.kubesphere.io/v1alpha1
kind: ClusterConfiguration
metadata:
  name: ks-installer
`;

test('KubeKey config: spec.hosts and roleGroups (ranges, master or control-plane), password kept for SSH only', () => {
  const inv = parseAnyInventory(KUBEKEY, '/root/config-sample.yaml');
  assert.equal(inv.format, 'kubekey');
  assert.deepEqual(inv.nodes.map(row), [
    ['master1', '127.0.0.11', 'control-plane', 22, 'root', false, `${process.env.HOME}/.ssh/kk`, ''],
    ['node1', '127.0.0.14', 'worker', 8022, 'ubuntu', true, '', ''],
    ['node2', '127.0.0.15', 'worker', 22, 'root', false, '', ''],
  ]);
  assert.equal(inv.nodes[1].password, 'Qcloud@123');
  assert.equal(parseAnyInventory(KUBEKEY.replace('control-plane:', 'master:'), 'c.yaml').nodes[0].role, 'control-plane');
  assert.throws(
    () => parseAnyInventory(KUBEKEY.replace('- node[1:2]', '- node9'), 'c.yaml'),
    /^Error: c\.yaml:17: roleGroups\.worker: "node9" is not in spec\.hosts/,
  );
});

test('ranges and jump specs', () => {
  assert.deepEqual(expandRange('node[01:03]'), ['node01', 'node02', 'node03']);
  assert.deepEqual(expandRange('w[a:b]'), ['w[a:b]']);
  assert.deepEqual(parseJump('ops@[::1]:2200', { user: 'root' }, 'x'), { user: 'ops', address: '::1', port: 2200, key: undefined });
  // a chain: the last hop is the one before the node, reached through the ones before it
  assert.deepEqual(parseJump('a@first,second:2222', { user: 'root' }, 'x'), {
    user: 'root',
    address: 'second',
    port: 2222,
    key: undefined,
    via: { user: 'a', address: 'first', port: 22, key: undefined },
  });
  assert.throws(() => parseJump('a b', { user: 'root' }, 'inv.yaml:4'), /inv\.yaml:4: jump host "a b" is not \[user@\]host\[:port\]/);
});
