// The docker strategy against a real dockerd (Debian docker.io, started by this test on a private socket with no
// networking, stopped by PID): a container named and labelled as the kubelet names a static pod's container is found
// and removed by `kpki restart --strategy docker`. (No crictl exists in Debian, so the crictl strategy is checked as
// commands in test/unit/strategies.test.ts; the lab's kubelet stand-in runs processes, not containers, so here
// nothing recreates the container: the test checks the exact commands work on the real runtime.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { KPKI, removeTree, tempRoot } from '../../helpers/kpki.js';
import { execFileAsync, startTracked, stopTracked, waitFor } from '../../helpers/processes.js';
import { lab, skip } from './shared.js';

const haveDocker = existsSync('/usr/sbin/dockerd') && existsSync('/usr/bin/docker') && existsSync('/usr/bin/busybox');

test('kpki restart --strategy docker removes the static pod container the kubelet named, on a real dockerd', {
  skip: skip || (haveDocker ? false : 'docker.io or busybox-static not installed'),
}, async () => {
  const dir = tempRoot('kpki-docker-');
  const socket = `unix://${dir}/docker.sock`;
  const env = { ...process.env, DOCKER_HOST: socket };
  const docker = (...args: string[]) => execFileAsync('/usr/bin/docker', args, { env, timeout: 60_000 });
  const dockerd = startTracked('/usr/sbin/dockerd', [
    '--host',
    socket,
    '--data-root',
    `${dir}/data`,
    '--exec-root',
    `${dir}/exec`,
    '--pidfile',
    `${dir}/docker.pid`,
    '--bridge',
    'none',
    '--iptables=false',
    '--ip6tables=false',
    '--ip-forward=false',
    '--ip-masq=false',
    '--userland-proxy=false',
    '--containerd-namespace',
    'kpki-test',
    '--containerd-plugins-namespace',
    'kpki-test-plugins',
  ]);
  try {
    await waitFor('dockerd', async () => (await docker('version', '--format', '{{.Server.Version}}')).stdout.length > 0, 30_000);
    mkdirSync(join(dir, 'rootfs/bin'), { recursive: true });
    copyFileSync('/usr/bin/busybox', join(dir, 'rootfs/bin/busybox'));
    const tar = spawnSync('sh', ['-c', `tar -C '${dir}/rootfs' -c . | /usr/bin/docker import - kpki-lab/busybox:1`], {
      env,
      encoding: 'utf8',
    });
    assert.equal(tar.status, 0, tar.stderr);
    const node = lab().node(3);
    // as the kubelet (dockershim / cri-dockerd) names and labels a static pod's container
    const name = `k8s_kube-scheduler_kube-scheduler-${node.name}_kube-system_0123456789abcdef_0`;
    await docker(
      'run',
      '-d',
      '--network',
      'none',
      '--name',
      name,
      '--label',
      'io.kubernetes.pod.namespace=kube-system',
      '--label',
      'io.kubernetes.container.name=kube-scheduler',
      'kpki-lab/busybox:1',
      '/bin/busybox',
      'sleep',
      '600',
    );
    const r = await lab().exec(node, [
      'env',
      `DOCKER_HOST=${socket}`,
      process.execPath,
      KPKI,
      'restart',
      'kube-scheduler',
      '--strategy',
      'docker',
      '--timeout',
      '30s',
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /kube-scheduler: restarting with docker/);
    assert.equal((await docker('ps', '-a', '-q', '--filter', `name=${name}`)).stdout.trim(), '', 'the container was removed');
  } finally {
    const all = (await docker('ps', '-a', '-q').catch(() => ({ stdout: '' }))).stdout.split(/\s+/).filter(Boolean);
    if (all.length) await docker('rm', '-f', ...all).catch(() => undefined);
    await stopTracked(dockerd, 20_000);
    spawnSync('umount', ['-R', `${dir}/data`]);
    spawnSync('umount', ['-R', `${dir}/exec`]);
    removeTree(dir);
  }
});
