// The exact commands of the container-runtime and systemd strategies (no containerd/dockerd/systemd runs the control
// plane here, so these are checked as commands), and what `auto` picks from what a node has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalHost } from '../../src/hosts/local.js';
import { parseStaticPod } from '../../src/kubeadm/manifests.js';
import type { NodeServices } from '../../src/service/health.js';
import { crictlCommands, detectStrategy, dockerCommands, systemdCommands } from '../../src/service/strategies.js';
import { removeTree, tempRoot } from '../helpers/kpki.js';

test('crictl: pods found by the kubelet label component=<name> in kube-system, then stopp and rmp each', () => {
  assert.deepEqual(crictlCommands('kube-apiserver', []), [['crictl', 'pods', '--namespace', 'kube-system', '--label', 'component=kube-apiserver', '-q']]);
  assert.deepEqual(crictlCommands('etcd', ['a1', 'b2']), [['crictl', 'stopp', 'a1'], ['crictl', 'rmp', 'a1'], ['crictl', 'stopp', 'b2'], ['crictl', 'rmp', 'b2']]);
});

test('docker: containers found by the labels the kubelet sets, removed with rm -f', () => {
  assert.deepEqual(dockerCommands('kube-scheduler', []), [['docker', 'ps', '-a', '-q', '--filter', 'label=io.kubernetes.pod.namespace=kube-system', '--filter', 'label=io.kubernetes.container.name=kube-scheduler']]);
  assert.deepEqual(dockerCommands('kube-scheduler', ['c1', 'c2']), [['docker', 'rm', '-f', 'c1', 'c2']]);
});

test('systemd: systemctl restart <component>.service', () => {
  assert.deepEqual(systemdCommands('kubelet'), [['systemctl', 'restart', 'kubelet.service']]);
});

test('auto: manifest for a static pod without a runtime CLI, systemd for units and the kubelet, nothing otherwise', async () => {
  const root = tempRoot();
  try {
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    writeFileSync(join(root, 'etc/systemd/system/kube-apiserver.service'), '[Service]\nExecStart=/usr/local/bin/kube-apiserver\n');
    const host = new LocalHost(root);
    const pod = parseStaticPod('apiVersion: v1\nkind: Pod\nmetadata: {name: etcd}\nspec: {containers: [{name: etcd, command: [etcd]}]}\n', 'etcd.yaml');
    const services: NodeServices = { pods: new Map([['etcd', pod]]) };
    assert.equal((await detectStrategy(host, services, 'etcd')).strategy, 'manifest');
    assert.equal((await detectStrategy(host, services, 'kube-apiserver')).strategy, 'systemd');
    assert.equal((await detectStrategy(host, services, 'kubelet')).strategy, 'systemd');
    const none = await detectStrategy(host, services, 'kube-scheduler');
    assert.equal(none.strategy, undefined);
    assert.match(none.why, /nothing runs kube-scheduler on this node/);
  } finally {
    removeTree(root);
  }
});
