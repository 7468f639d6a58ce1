// The other node commands on the whole lab from this machine (-i): inventory discover through the API, health of
// every node with etcd's own view, backups and a restore by rollout id, kubelet renew with node Ready checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kpkiAsync } from '../../helpers/kpki.js';
import { tempFile, verifies } from '../../helpers/openssl.js';
import { certificateToPem } from '../../../src/pki/certificate.js';
import { issueWithThrowawayCa, leafExtensions } from '../../../src/pki/issue.js';
import { generatePrivateKey, privateKeyToPem } from '../../../src/pki/keys.js';
import { lab, skip } from './shared.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('inventory discover lists the nodes through the API (roles, addresses) as an inventory that check -i uses', { skip }, async () => {
  const cluster = lab();
  const out = join(cluster.dir, 'discovered.yaml');
  const r = await kpkiAsync([
    'inventory',
    'discover',
    '--from',
    cluster.adminKubeconfig,
    '--key',
    cluster.sshKey,
    '--known-hosts',
    cluster.knownHosts,
    '--out',
    out,
  ]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stderr, /Wrote .*discovered\.yaml: 3 control-plane node\(s\), 1 worker\(s\)/);
  const text = readFileSync(out, 'utf8');
  assert.match(text, /- \{ name: lab-cp1, address: 127\.0\.0\.11, role: control-plane \}/);
  assert.match(text, /- \{ name: lab-w1, address: 127\.0\.0\.14, role: worker \}/);
  const again = await kpkiAsync(['inventory', 'discover', '--from', cluster.adminKubeconfig, '--out', out]);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /exists: not overwriting it/);
  const check = await kpkiAsync(['check', '-i', out]);
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /^lab-w1 \(127\.0\.0\.14, worker\): ok:/m);
});

test("health -i: every node's components probed from the node itself (SSH tunnels) and etcd's members; a missing manifest is found", {
  skip,
}, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  const r = await kpkiAsync(['health', '-i', inventory]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^lab-cp2\s+etcd\s+etcd \/health \(healthcheck-client\)\s+ok/m);
  assert.match(r.stdout, /^lab-w1\s+kubelet\s+kubelet \/healthz\s+ok/m);
  assert.equal([...r.stdout.matchAll(/^lab-cp\d\s+ok\s+\d+/gm)].length, 3, r.stdout);
  const cp3 = cluster.node(3);
  cp3.parkManifest('kube-scheduler');
  try {
    const down = await kpkiAsync(['health', '-i', inventory, '-o', 'json']);
    assert.equal(down.status, 2, down.stdout + down.stderr);
    const json = JSON.parse(down.stdout);
    const failing = json.nodes.flatMap((n: { node: string; checks: { component: string; ok: boolean; check: string }[] }) =>
      n.checks.filter((c) => !c.ok).map((c) => `${n.node} ${c.component} ${c.check}`),
    );
    assert.deepEqual(failing, ['lab-cp3 kube-scheduler manifest']);
  } finally {
    cp3.unparkManifest('kube-scheduler');
  }
  await cluster.waitHealthy(60_000);
});

test('hardened sshd on every node (no TCP forwarding; MaxSessions 10 or 4; lab-cp3 without python3): probes through one python3 relay per node, or a bash relay per probe within MaxSessions; never an unhealthy component; with neither, one message naming what to change', {
  skip,
}, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  // the lab's sshd configs really are hardened, and lab-cp3 really has no python3 that runs
  const config = (name: string) => readFileSync(join(cluster.node(name).dir, 'ssh', 'sshd_config'), 'utf8');
  for (const [name, forwarding, sessions] of [
    ['lab-cp1', /^AllowTcpForwarding no$/m, 10],
    ['lab-cp2', /^AllowTcpForwarding no$/m, 4],
    ['lab-cp3', /^PermitOpen 127\.0\.0\.13:22$/m, 4],
    ['lab-w1', /^AllowTcpForwarding no$/m, 4],
  ] as const) {
    assert.match(config(name), forwarding, name);
    assert.match(config(name), new RegExp(`^MaxSessions ${sessions}$`, 'm'), name);
  }
  assert.notEqual((await cluster.ssh('lab-cp3', 'python3 -c "import socket"')).code, 0, 'lab-cp3 has no python3 that runs');
  // every node at once, several times over: no probe is refused a session, none times out in kpki's own queue
  for (let run = 0; run < 3; run++) {
    const r = await kpkiAsync(['health', '-i', inventory, '-o', 'json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const checks = JSON.parse(r.stdout).nodes.flatMap((n: { checks: { ok: boolean }[] }) => n.checks);
    assert.ok(checks.length >= 22 && checks.every((c: { ok: boolean }) => c.ok), r.stdout);
    if (run > 0) continue;
    const notices = r.stderr
      .split('\n')
      .filter((l) => /refuses TCP forwarding/.test(l))
      .sort();
    assert.deepEqual(notices, [
      'kpki: lab-cp1: sshd refuses TCP forwarding: health probes go through python3 on the node (one relay for every probe, exec, no forwarding)',
      'kpki: lab-cp2: sshd refuses TCP forwarding: health probes go through python3 on the node (one relay for every probe, exec, no forwarding)',
      'kpki: lab-cp3: sshd refuses TCP forwarding: health probes go through bash on the node (a relay per probe, exec, no forwarding)',
      'kpki: lab-w1: sshd refuses TCP forwarding: health probes go through python3 on the node (one relay for every probe, exec, no forwarding)',
    ]);
  }
  // a bash relay per probe on every node, three of them allowing 4 sessions: probes wait for a free session
  const bash = await kpkiAsync(['health', '-i', inventory, '-o', 'json'], { KPKI_TEST_RELAYS: 'bash' });
  assert.equal(bash.status, 0, bash.stdout + bash.stderr);
  assert.ok(
    JSON.parse(bash.stdout)
      .nodes.flatMap((n: { checks: { ok: boolean }[] }) => n.checks)
      .every((c: { ok: boolean }) => c.ok),
    bash.stdout,
  );
  // neither (a busybox-only node): every probe fails with one message that says what to change on the node
  const none = await kpkiAsync(['health', '-i', inventory, '--nodes', 'lab-cp2'], { KPKI_TEST_RELAYS: 'none' });
  assert.equal(none.status, 2, none.stdout + none.stderr);
  const told = none.stderr.split('\n').filter((l) => /neither python3 nor bash/.test(l));
  assert.equal(told.length, 1, none.stderr);
  assert.match(
    told[0],
    /install python3 \(or bash\) on lab-cp2, or allow kpki's user to forward to the node's own ports \(Match User <user>: AllowTcpForwarding local, PermitOpen 127\.0\.0\.1:2379 /,
  );
  // no relay is left running on the nodes
  for (const node of ['lab-cp1', 'lab-cp2', 'lab-cp3', 'lab-w1']) {
    const ps = await cluster.ssh(node, 'ps -eo args');
    assert.doesNotMatch(ps.stdout, /kpki-relay/, `${node}: ${ps.stdout}`);
  }
});

test("backups -i lists every node's backups; restore -i by rollout id puts each node's files of that rollout back byte for byte", {
  skip,
}, async () => {
  const cluster = lab();
  const inventory = cluster.writeInventory();
  // a small rollout of its own (the API servers reload their serving certificate: no restart)
  const renewed = await kpkiAsync(['renew', '-i', inventory, 'apiserver', '--yes']);
  assert.equal(renewed.status, 0, renewed.stdout + renewed.stderr);
  const id = /Rollout (r\S+) complete/.exec(renewed.stdout)![1];
  const list = await kpkiAsync(['backups', '-i', inventory, '-o', 'json']);
  assert.equal(list.status, 0, list.stderr);
  const all = JSON.parse(list.stdout) as {
    node: string;
    backups: { id: string; reason: string; files: { path: string; sha256?: string }[] }[];
  }[];
  assert.deepEqual(
    all.map((n) => n.backups.filter((b) => b.reason.includes(id)).length),
    [1, 1, 1, 0],
    'one backup per control-plane node',
  );
  const table = await kpkiAsync(['backups', '-i', inventory]);
  assert.match(table.stdout, new RegExp(`^lab-cp2\\s+\\S+\\s+\\S+\\s+renew \\(rollout ${id}\\)`, 'm'));
  const r = await kpkiAsync(['restore', '-i', inventory, id, '--yes']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^lab-w1\s+\(none: left alone\)/m);
  for (const n of all.filter((x) => x.backups.some((b) => b.reason.includes(id)))) {
    assert.match(r.stdout, new RegExp(`^${n.node}: restored \\d+ file\\(s\\) from backup`, 'm'));
    const backup = n.backups.filter((b) => b.reason.includes(id)).at(-1)!;
    for (const f of backup.files.filter((x) => x.sha256))
      assert.equal(sha(cluster.node(n.node).read(f.path)), f.sha256, `${n.node}:${f.path} as in backup ${backup.id}`);
  }
  await cluster.waitHealthy(60_000);
});

test("kubelet renew -i: every node's kubelet client certificate re-signed with the CA in memory, each node Ready again", {
  skip,
}, async () => {
  const cluster = lab();
  const link = '/var/lib/kubelet/pki/kubelet-client-current.pem';
  const serial = (n: (typeof cluster.nodes)[number]) => new X509Certificate(n.read(link)).serialNumber;
  const before = cluster.nodes.map(serial);
  const reportFile = join(cluster.dir, 'kubelet-report.json');
  const r = await kpkiAsync([
    'kubelet',
    'renew',
    '-i',
    cluster.writeInventory(),
    '--yes',
    '--max-unavailable',
    '2',
    '--report',
    reportFile,
  ]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /4 kubelet client certificate\(s\) renewed, every node Ready/);
  const after = cluster.nodes.map(serial);
  for (let i = 0; i < after.length; i++) assert.notEqual(after[i], before[i], cluster.nodes[i].name);
  const json = JSON.parse(readFileSync(reportFile, 'utf8'));
  assert.deepEqual(
    json.nodes.map((n: { outcome: string }) => n.outcome),
    ['renewed', 'renewed', 'renewed', 'renewed'],
  );
  assert.equal(existsSync(cluster.node(1).path('/var/lib/kpki/rollout.json')), false);
  await cluster.waitHealthy(60_000);
});

test("renew -i on a worker reached as its sudo login user: its kubelet serving certificate, due, is renewed in the kubelet's own shape (no cluster CA needed); openssl verifies it against the CA after it", {
  skip,
}, async () => {
  const cluster = lab();
  const w1 = cluster.node('lab-w1');
  const crt = '/var/lib/kubelet/pki/kubelet.crt';
  const keep = { crt: w1.read(crt), key: w1.read('/var/lib/kubelet/pki/kubelet.key') };
  // the kubelet's own shape, expiring in 5 days
  const [key, caKey] = await Promise.all([generatePrivateKey('ECDSA-P256'), generatePrivateKey('ECDSA-P256')]);
  const now = Date.now();
  const { leaf, ca } = await issueWithThrowawayCa({
    host: 'lab-w1',
    unixTime: Math.floor(now / 1000),
    key,
    caKey,
    extensions: leafExtensions({ commonName: 'lab-w1', dnsNames: ['lab-w1'], extKeyUsages: ['serverAuth'] }),
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 5 * 86_400_000),
  });
  writeFileSync(w1.path(crt), certificateToPem(leaf) + certificateToPem(ca));
  writeFileSync(w1.path('/var/lib/kubelet/pki/kubelet.key'), privateKeyToPem(key), { mode: 0o600 });
  try {
    const r = await kpkiAsync([
      'renew',
      '-i',
      cluster.writeInventory(),
      '--nodes',
      'lab-w1',
      'all',
      '--if-expires-within',
      '30d',
      '--yes',
      '-o',
      'json',
    ]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /lab-w1 .*serving certificate expires .*: will be renewed in the kubelet's shape/);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(
      report.nodes[0].certificates.map((c: { name: string }) => c.name),
      ['kubelet-serving'],
    );
    const blocks = w1
      .read(crt)
      .toString()
      .match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g)!;
    assert.equal(blocks.length, 2);
    const verdict = verifies(tempFile(blocks[1]), tempFile(blocks[0]));
    assert.ok(verdict.ok, `openssl verify -CAfile <(second certificate) <(first): ${verdict.output}`);
    const newLeaf = new X509Certificate(blocks[0]);
    assert.ok(new Date(newLeaf.validTo).getTime() > now + 300 * 86_400_000);
    assert.match(newLeaf.subject, /^CN=lab-w1@\d+$/);
  } finally {
    writeFileSync(w1.path(crt), keep.crt);
    writeFileSync(w1.path('/var/lib/kubelet/pki/kubelet.key'), keep.key, { mode: 0o600 });
  }
});
