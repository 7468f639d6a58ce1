// The exact commands of the container-runtime and systemd strategies (no containerd/dockerd/systemd runs the control
// plane here, so these are checked as commands), and what `auto` picks from what a node has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalHost } from '../../src/hosts/local.js';
import { parseStaticPod } from '../../src/kubeadm/manifests.js';
import type { NodeServices } from '../../src/service/health.js';
import { crictlCommands, detectStrategy } from '../../src/service/strategies.js';
import { removeTree, tempRoot } from '../helpers/kpki.js';

// crictl: no CRI runtime runs on this machine, so the commands are checked against what the kubelet labels its pod
// sandboxes with (docker runs for real in the lab's docker test; systemd through the lab nodes' systemctl).
test('crictl: pods found by the kubelet label component=<name> in kube-system, then stopp and rmp each', () => {
  assert.deepEqual(crictlCommands('kube-apiserver', []), [
    ['crictl', 'pods', '--namespace', 'kube-system', '--label', 'component=kube-apiserver', '-q'],
  ]);
  assert.deepEqual(crictlCommands('etcd', ['a1', 'b2']), [
    ['crictl', 'stopp', 'a1'],
    ['crictl', 'rmp', 'a1'],
    ['crictl', 'stopp', 'b2'],
    ['crictl', 'rmp', 'b2'],
  ]);
});

test('auto: manifest for a static pod without a runtime CLI, systemd for units and the kubelet, nothing otherwise', async () => {
  const root = tempRoot();
  try {
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    writeFileSync(join(root, 'etc/systemd/system/kube-apiserver.service'), '[Service]\nExecStart=/usr/local/bin/kube-apiserver\n');
    const host = new LocalHost(root);
    const pod = parseStaticPod(
      'apiVersion: v1\nkind: Pod\nmetadata: {name: etcd}\nspec: {containers: [{name: etcd, command: [etcd]}]}\n',
      'etcd.yaml',
    );
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
