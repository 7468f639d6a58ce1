// kpki check -i over real SSH (ssh2 → the lab nodes' sshd): one table for the cluster, cross-node problems found,
// and host keys verified against known_hosts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certificateToPem, parseCertificate } from '../../../src/pki/certificate.js';
import {
  distinguishedName,
  extensionsToCopy,
  issueCertificate,
  leafExtensions,
  selfSignCa,
  withoutSubjectAltName,
} from '../../../src/pki/issue.js';
import { generatePrivateKey, parsePrivateKey, privateKeyToPem } from '../../../src/pki/keys.js';
import type { LabNode } from '../../../lab/lab.js';
import { KPKI } from '../../helpers/kpki.js';
import { startTracked, stopTracked, waitFor } from '../../helpers/processes.js';
import { lab, skip } from './shared.js';

function kpkiHere(args: string[]) {
  const r = spawnSync(process.execPath, [KPKI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

function keep(node: LabNode, path: string): () => void {
  const bytes = node.read(path);
  return () => writeFileSync(node.path(path), bytes);
}

test('check -i reads every node over SSH into one table, with a summary per node', { skip }, () => {
  const inventory = lab().writeInventory();
  const r = kpkiHere(['check', '-i', inventory]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^NODE\s+CERTIFICATE\s+EXPIRES/m);
  assert.match(r.stdout, /^lab-cp2\s+apiserver\s+/m);
  assert.match(r.stdout, /^lab-w1\s+kubelet-client\s+/m);
  for (const n of ['lab-cp1', 'lab-cp2', 'lab-cp3', 'lab-w1'])
    assert.match(r.stdout, new RegExp(`^${n} \\(127\\.0\\.0\\.\\d+, (control-plane|worker)\\): ok:`, 'm'));
  const json = JSON.parse(kpkiHere(['check', '-i', inventory, '-o', 'json', '--nodes', 'lab-cp2']).stdout);
  assert.deepEqual(
    json.nodes.map((n: { node: string }) => n.node),
    ['lab-cp2'],
  );
});

test('check -i finds a CA that differs between control-plane nodes and an apiserver certificate without its address', {
  skip,
}, async () => {
  const inventory = lab().writeInventory();
  const cp3 = lab().node(3);
  const cp2 = lab().node(2);
  const restoreCa = keep(cp3, '/etc/kubernetes/pki/front-proxy-ca.crt');
  const restoreApi = keep(cp2, '/etc/kubernetes/pki/apiserver.crt');
  const restoreApi3 = keep(cp3, '/etc/kubernetes/pki/apiserver.crt');
  try {
    const key = await generatePrivateKey('ECDSA-P256');
    writeFileSync(
      cp3.path('/etc/kubernetes/pki/front-proxy-ca.crt'),
      certificateToPem(
        await selfSignCa({
          commonName: 'front-proxy-ca',
          key,
          notBefore: new Date(Date.now() - 60_000),
          notAfter: new Date(Date.now() + 86_400_000 * 3650),
        }),
      ),
    );
    // cp2's apiserver certificate loses the node's own address, cp3's the load balancer's (admin.conf's server)
    for (const [node, drop] of [
      [cp2, cp2.address],
      [cp3, '127.0.0.10'],
    ] as const) {
      const pki = node.path('/etc/kubernetes/pki');
      const old = parseCertificate(readFileSync(join(pki, 'apiserver.crt')));
      const renewed = await issueCertificate({
        subject: old.subjectDer,
        extensions: withoutSubjectAltName(extensionsToCopy(old), drop),
        publicKey: createPublicKey(parsePrivateKey(readFileSync(join(pki, 'apiserver.key')))),
        notBefore: new Date(Date.now() - 60_000),
        notAfter: old.notAfter,
        signer: { cert: parseCertificate(readFileSync(join(pki, 'ca.crt'))), key: parsePrivateKey(readFileSync(join(pki, 'ca.key'))) },
      });
      writeFileSync(join(pki, 'apiserver.crt'), certificateToPem(renewed));
    }
    const r = kpkiHere(['check', '-i', inventory]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout, /Across nodes:\n[\s\S]*front-proxy-ca differs between control-plane nodes: lab-cp1, lab-cp2 vs lab-cp3/);
    assert.match(
      r.stdout,
      /lab-cp2: the apiserver certificate does not name the node's address 127\.0\.0\.12; fix: kpki san add -i INVENTORY --nodes lab-cp2 IP:127\.0\.0\.12/,
    );
    assert.match(
      r.stdout,
      /lab-cp3: the apiserver certificate does not name the control-plane endpoint 127\.0\.0\.10 \(admin\.conf's server\); fix: kpki san add -i INVENTORY --nodes lab-cp3 IP:127\.0\.0\.10/,
    );
    assert.doesNotMatch(r.stdout, /lab-cp[12]: the apiserver certificate does not name the control-plane endpoint/);
    const wide = kpkiHere(['check', '-i', inventory, '-o', 'kubeadm', '--nodes', 'lab-cp1,lab-w1']);
    assert.match(
      wide.stdout,
      /^== lab-cp1 \(127\.0\.0\.11, control-plane\)\nCERTIFICATE +EXPIRES +RESIDUAL TIME +CERTIFICATE AUTHORITY +EXTERNALLY MANAGED\n/m,
    );
    assert.match(wide.stdout, /^== lab-w1 \(127\.0\.0\.14, worker\)$/m);
  } finally {
    restoreCa();
    restoreApi();
    restoreApi3();
  }
});

test('check -i over SFTP: a FIFO where a certificate should be (root on cp2, sudo sftp-server on the worker) is named, never waited on', {
  skip,
}, () => {
  const inventory = lab().writeInventory();
  const places: [LabNode, string][] = [
    [lab().node(2), '/etc/kubernetes/pki/front-proxy-client.crt'],
    [lab().node('lab-w1'), '/var/lib/kubelet/pki/kubelet.crt'],
  ];
  const restores = places.map(([node, path]) => keep(node, path));
  try {
    for (const [node, path] of places) {
      rmSync(node.path(path));
      spawnSync('mkfifo', [node.path(path)]);
    }
    const r = kpkiHere(['check', '-i', inventory, '--nodes', 'lab-cp2,lab-w1', '-o', 'json']);
    assert.equal(r.code, 3, r.stderr);
    const json = JSON.parse(r.stdout);
    for (const [node, path] of places) {
      const items = json.nodes.find((n: { node: string }) => n.node === node.name).certificates;
      const item = items.find((i: { path: string }) => i.path === path);
      assert.match(JSON.stringify(item.problems), new RegExp(`${node.name}:${path} is a FIFO \\(named pipe\\), not a regular file`));
    }
  } finally {
    for (const [node, path] of places) rmSync(node.path(path), { force: true });
    for (const restore of restores) restore();
  }
});

test('check -i refuses a changed host key and an unknown one, with clear messages; --accept-new-host-keys records new ones', {
  skip,
}, () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  const known = readFileSync(cluster.knownHosts, 'utf8');
  try {
    writeFileSync(
      cluster.knownHosts,
      known
        .replace(/^127\.0\.0\.11 /m, 'XX ')
        .replace(/^127\.0\.0\.12 /m, '127.0.0.11 ')
        .replace(/^XX /m, '127.0.0.12 '),
    );
    const changed = kpkiHere(['check', '-i', inventory, '--nodes', 'lab-cp1']);
    assert.equal(changed.code, 3);
    assert.match(
      changed.stdout,
      /lab-cp1 \(127\.0\.0\.11\): UNKNOWN: lab-cp1 \(127\.0\.0\.11\): the host key \(ssh-ed25519\) is NOT the one recorded in .*known_hosts: refusing to connect/,
    );
    writeFileSync(cluster.knownHosts, '');
    const unknown = kpkiHere(['check', '-i', inventory, '--nodes', 'lab-cp1']);
    assert.match(unknown.stdout, /unknown host key \(ssh-ed25519\), not in .*: refusing to connect/);
    const accepted = kpkiHere(['check', '-i', inventory, '--accept-new-host-keys']);
    assert.equal(accepted.code, 0, accepted.stdout);
    assert.equal(readFileSync(cluster.knownHosts, 'utf8').trim().split('\n').length, 4);
  } finally {
    writeFileSync(cluster.knownHosts, known);
  }
});

/** The exporter's established SSH connections, as its local ports, and the sshd processes at the other end. */
function sshConnections(pid: number): { localPort: number; peerPids: number[] }[] {
  const ss = (filter: string) =>
    spawnSync('ss', ['-tnpH', 'state', 'established', filter], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  const mine = ss('( dport = :22 )').filter((l) => l.includes(`pid=${pid},`));
  const servers = ss('( sport = :22 )');
  return mine.map((line) => {
    const local = line.trim().split(/\s+/)[2];
    const localPort = Number(local.slice(local.lastIndexOf(':') + 1));
    const server = servers.find((s) => s.trim().split(/\s+/)[3]?.endsWith(`:${localPort}`)) ?? '';
    return { localPort, peerPids: [...server.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])) };
  });
}

test('exporter -i keeps one SSH connection per node between scrapes and connects again when one ends', { skip }, async () => {
  const cluster = lab();
  const port = 19794;
  const child = startTracked(process.execPath, [
    KPKI,
    '-i',
    cluster.writeInventory(),
    'exporter',
    '--listen',
    `127.0.0.1:${port}`,
    '--min-interval',
    '0s',
  ]);
  try {
    await waitFor('the exporter to listen', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok);
    const scrape = async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      for (const node of cluster.nodes)
        assert.match(text, new RegExp(`^kpki_node_reachable\\{node="${node.name}",role="[^"]+"\\} 1$`, 'm'), `${node.name} reachable`);
      return sshConnections(child.pid!);
    };
    const first = await scrape();
    assert.equal(first.length, cluster.nodes.length, `one connection per node: ${JSON.stringify(first)}`);
    const second = await scrape();
    assert.deepEqual(
      second.map((c) => c.localPort).sort(),
      first.map((c) => c.localPort).sort(),
      'the same connections serve the next scrape',
    );
    // the node's side ends one connection (its sshd session process, started by the lab, stopped by PID)
    const victim = first[0];
    assert.ok(victim.peerPids.length > 0, `the sshd at the other end of port ${victim.localPort}: ${JSON.stringify(first)}`);
    // (sshd's session is a privilege-separated pair: when one ends the other may already be gone, ESRCH)
    for (const pid of victim.peerPids) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
    await waitFor(
      'the exporter to notice the closed connection',
      async () => !sshConnections(child.pid!).some((c) => c.localPort === victim.localPort),
      15_000,
    );
    const third = await scrape();
    assert.equal(third.length, cluster.nodes.length, `reconnected: ${JSON.stringify(third)}`);
    assert.ok(!third.some((c) => c.localPort === victim.localPort));
    assert.equal(
      third.filter((c) => first.some((f) => f.localPort === c.localPort)).length,
      cluster.nodes.length - 1,
      'only the ended connection was replaced',
    );
  } finally {
    await stopTracked(child);
  }
});

test('serverTLSBootstrap: check -i reads kubelet-server-current.pem and says, through the API, whether a kubelet-serving CSR waits for approval', {
  skip,
}, async () => {
  const cluster = lab();
  const w1 = cluster.node('lab-w1');
  const cp1 = cluster.controlPlanes[0];
  const pki = '/var/lib/kubelet/pki';
  const ca = {
    cert: parseCertificate(cp1.read('/etc/kubernetes/pki/ca.crt')),
    key: parsePrivateKey(cp1.read('/etc/kubernetes/pki/ca.key')),
  };
  // what the kubelet writes once its serving CSR is approved: a cluster-signed PEM behind a -current symlink
  const key = await generatePrivateKey('ECDSA-P256');
  const served = await issueCertificate({
    subject: distinguishedName('system:node:lab-w1', ['system:nodes']),
    extensions: leafExtensions({
      commonName: 'system:node:lab-w1',
      dnsNames: ['lab-w1'],
      ipAddresses: [w1.address],
      extKeyUsages: ['serverAuth'],
    }),
    publicKey: key,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 300 * 86_400_000),
    signer: ca,
  });
  const restoreConfig = keep(w1, '/var/lib/kubelet/config.yaml');
  writeFileSync(w1.path(`${pki}/kubelet-server-2026-12-01-00-00-00.pem`), certificateToPem(served) + privateKeyToPem(key), { mode: 0o600 });
  symlinkSync(`${pki}/kubelet-server-2026-12-01-00-00-00.pem`, w1.path(`${pki}/kubelet-server-current.pem`));
  writeFileSync(
    w1.path('/var/lib/kubelet/config.yaml'),
    `${readFileSync(w1.path('/var/lib/kubelet/config.yaml'), 'utf8')}serverTLSBootstrap: true\n`,
  );
  const admin = cluster.adminKubeconfig;
  const csrName = 'csr-kpki-lab-w1-serving';
  try {
    const inventory = cluster.writeInventory();
    const quiet = kpkiHere(['check', '-i', inventory, '--nodes', 'lab-w1', '-o', 'json']);
    assert.equal(quiet.code, 0, quiet.stdout + quiet.stderr);
    const node = JSON.parse(quiet.stdout).nodes[0];
    assert.equal(node.certificates.find((c: { name: string }) => c.name === 'kubelet-serving').caName, 'ca');
    assert.equal(node.kubeletServingCsrs.checked, true, JSON.stringify(node.kubeletServingCsrs));
    assert.deepEqual(node.kubeletServingCsrs.pending, []);

    // the kubelet asks for a new serving certificate with its own identity (real kubectl, the node's credentials)
    const pem = w1.read(`${pki}/kubelet-client-current.pem`).toString();
    const kubeletConf = join(cluster.dir, 'lab-w1-kubelet.conf');
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const certPem = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/)![0];
    const keyPem = pem.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----\n/)![0];
    writeFileSync(
      kubeletConf,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: ${cluster.endpointUrl}\n    certificate-authority-data: ${b64(certificateToPem(ca.cert))}\nusers:\n- name: node\n  user:\n    client-certificate-data: ${b64(certPem)}\n    client-key-data: ${b64(keyPem)}\ncontexts:\n- name: node\n  context: { cluster: lab, user: node }\ncurrent-context: node\n`,
      { mode: 0o600 },
    );
    const csrPem = spawnSync(
      'openssl',
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        '/dev/null',
        '-subj',
        '/O=system:nodes/CN=system:node:lab-w1',
      ],
      { encoding: 'utf8' },
    ).stdout;
    const manifest = join(cluster.dir, 'csr.yaml');
    writeFileSync(
      manifest,
      `apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: ${csrName}\nspec:\n  request: ${b64(csrPem)}\n  signerName: kubernetes.io/kubelet-serving\n  usages: [digital signature, server auth]\n`,
    );
    const created = spawnSync(
      'kubectl',
      ['--kubeconfig', kubeletConf, '--request-timeout=5s', 'create', '--validate=false', '-f', manifest],
      { encoding: 'utf8' },
    );
    assert.equal(created.status, 0, created.stdout + created.stderr);

    const waiting = kpkiHere(['check', '-i', inventory, '--nodes', 'lab-w1']);
    assert.equal(waiting.code, 1, waiting.stdout + waiting.stderr);
    assert.match(
      waiting.stdout,
      new RegExp(
        `1 CSR\\(s\\) wait for approval \\(kubeadm does not approve them\\):\\n  ${csrName} from system:node:lab-w1 since \\S+: kubectl certificate approve ${csrName}`,
      ),
    );
  } finally {
    spawnSync('kubectl', ['--kubeconfig', admin, '--request-timeout=5s', 'delete', 'csr', csrName], { encoding: 'utf8' });
    rmSync(w1.path(`${pki}/kubelet-server-current.pem`), { force: true });
    rmSync(w1.path(`${pki}/kubelet-server-2026-12-01-00-00-00.pem`), { force: true });
    restoreConfig();
  }
});
