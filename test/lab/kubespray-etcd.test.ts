// kpki ca rotate -i --ca etcd-ca on a cluster whose etcd runs as Kubespray runs it by default: etcd.service (the
// lab's systemd stand-in, lab/standins/units.ts, runs the real etcd with the unit's EnvironmentFile, /etc/etcd.env, in
// each node's own /etc) and its certificates in /etc/ssl/etcd/ssl (member-, admin- and node-<host>.pem, ca.pem), no
// etcd static pod; a small 3 + 1 lab of its own (127.0.0.71-74). etcd reads its trusted CAs only at start, so kpki
// restarts etcd.service (`systemctl restart etcd`, which returns once etcd serves, as Type=notify does) one node at a
// time behind the quorum gate. The rotation is killed while node 2's etcd restarts in the trust phase and resumed;
// under load (after a `renew -i all`, where etcd serves its renewed member certificate without a restart), no
// load-balanced request fails and no acknowledged write is lost. Then a member outside the inventory
// (as on an etcd-only host) that does not trust a new CA makes the issue phase refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import '../../src/pki/provider.js';
import { Lab } from '../../lab/lab.js';
import { Load, summarize } from '../../lab/load.js';
import { hashTree, KPKI, kpkiAsync, kpkiKilledWhen } from '../helpers/kpki.js';
import { etcdctl, labSkipReason } from '../helpers/lab-tools.js';
import { pemCount, tempFile, verifiesEach } from '../helpers/openssl.js';
import { assertServed } from '../helpers/load-bounds.js';

const skip = labSkipReason();
const SSL = '/etc/ssl/etcd/ssl';

test('renew -i, then ca rotate -i --ca etcd-ca with etcd as a systemd service (Kubespray): etcd.service restarted node by node, killed at node 2 and resumed, under load: zero failed balanced requests; every etcd certificate from the new CA only', {
  skip,
}, async () => {
  const lab = await Lab.start({ controlPlanes: 3, workers: 1, baseOctet: 70, etcdService: true });
  try {
    const inventory = lab.writeInventory();
    const [cp1] = lab.controlPlanes;
    const oldCa = cp1.read(`${SSL}/ca.pem`);
    for (const node of lab.controlPlanes)
      assert.equal(
        node.pods().some((p) => p.name.startsWith('etcd-')),
        false,
        `${node.name}: no etcd static pod`,
      );

    const check = await kpkiAsync(['check', '-i', inventory]);
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.doesNotMatch(check.stdout, /wrong CA|etcd-ssl-ca|etcd-(server|peer|healthcheck-client) /);

    const load = Load.start(lab, { durationMs: 300_000 });
    let report: Awaited<ReturnType<Load['finish']>>;
    let killed: string;
    let resumed: { status: number; stdout: string; stderr: string };
    let renewed: { status: number; stdout: string; stderr: string };
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      // first a renewal: member-<host>.pem is etcd's serving and peer certificate, re-read by etcd itself
      renewed = await kpkiAsync(['renew', '-i', inventory, 'all', '--yes']);
      const run = await kpkiKilledWhen(
        ['ca', 'rotate', '-i', inventory, '--ca', 'etcd-ca', '--yes'],
        /lab-cp2: +etcd: restarting with systemd/,
      );
      assert.equal(run.signal, 'SIGKILL', `kpki ended before it was killed:\n${run.out}`);
      killed = run.out;
      resumed = await kpkiAsync(['ca', 'rotate', '-i', inventory, '--ca', 'etcd-ca', '--yes', '--resume']);
      await lab.waitHealthy(90_000);
    } finally {
      report = await load.finish();
    }
    console.log(`ca rotate etcd-ca, etcd.service: ${summarize(report)}`);
    assert.equal(renewed.status, 0, renewed.stdout + renewed.stderr);
    for (const node of lab.controlPlanes)
      assert.match(
        renewed.stdout,
        new RegExp(`${node.name}: +etcd: serves the renewed certificates without a restart`),
        `${node.name}: etcd verified to serve its renewed member certificate`,
      );
    assert.doesNotMatch(renewed.stdout, /etcd: restarting/, 'renewal restarts no etcd');
    const out = resumed.stdout + resumed.stderr;
    assert.match(killed, /lab-cp1: +etcd: restarting with systemd \(etcd\.service runs etcd \(settings in \/etc\/etcd\.env\)\)/);
    assert.equal(resumed.status, 0, out);
    assert.match(out, /Resuming the trust phase of rollout r\S+ .*lab-cp1 done/);
    for (const phase of ['issue', 'finish'])
      assert.match(out, new RegExp(`etcd-ca ${phase} phase complete on 3 control-plane node\\(s\\)`), out);
    assert.match(out, /etcd-ca verified: .* every etcd member serves a chain of the new CA/);
    // etcd.service restarts at trust and finish, kube-apiserver at trust, issue and finish, node 2 killed once more;
    // the stand-in API server talks to its own etcd only, so a pinned client also loses it while that etcd restarts
    assertServed(report, 'ca rotate etcd-ca, etcd.service', 8);

    // etcd read the bundle at start: every node's etcd.service was restarted in trust and again in finish
    for (const node of lab.controlPlanes) {
      const restarts = readFileSync(join(node.dir, 'logs', 'node.log'), 'utf8').match(/restarting etcd\.service/g) ?? [];
      assert.ok(restarts.length >= 2, `${node.name}: etcd.service restarted ${restarts.length} time(s)`);
    }
    const newCa = cp1.read(`${SSL}/ca.pem`);
    assert.equal(pemCount(newCa), 1);
    assert.notDeepEqual(newCa, oldCa);
    const [newCaFile, oldCaFile] = [tempFile(newCa), tempFile(oldCa)];
    const leaves = lab.controlPlanes.flatMap((n) => ['member', 'admin', 'node'].map((k) => n.path(`${SSL}/${k}-${n.name}.pem`)));
    for (const node of lab.controlPlanes) assert.deepEqual(node.read(`${SSL}/ca.pem`), newCa, `${node.name}: ca.pem is the new CA alone`);
    const byNew = verifiesEach(leaves.map((l): [string, string] => [newCaFile, l]));
    const byOld = verifiesEach(leaves.map((l): [string, string] => [oldCaFile, l]));
    leaves.forEach((l, i) => {
      assert.ok(byNew[i].ok, `${l}: openssl verifies it against the new CA: ${byNew[i].output}`);
      assert.equal(byOld[i].ok, false, `${l}: the old CA no longer verifies it`);
    });
    // real etcdctl with the node's admin certificate: every member healthy on the new certificates
    const health = await etcdctl(
      cp1,
      lab.controlPlanes.map((n) => `https://${n.address}:2379`),
      ['endpoint', 'health'],
    );
    const said = health.out;
    assert.equal((said.match(/is healthy/g) ?? []).length, 3, said);

    // kpki restart on the node itself: etcd.service through systemctl, then etcd's /health with admin-<host>.pem
    const restart = await lab.exec(lab.controlPlanes[2], [process.execPath, KPKI, 'restart', 'etcd'], 120_000);
    assert.equal(restart.code, 0, restart.stdout + restart.stderr);
    assert.match(restart.stdout, /etcd: restarting with systemd \(etcd\.service runs etcd/);
    assert.match(restart.stdout, /etcd: healthy [\d.]+ s after the restart/);

    // an etcd member no node of the inventory runs (as an etcd-only host, or an external etcd): node 3 left out of the
    // inventory, trust done on nodes 1 and 2; issue must refuse, naming node 3's member, and write nothing
    const partial = join(lab.dir, 'two-nodes.yaml');
    writeFileSync(partial, readFileSync(inventory, 'utf8').replace(/^.*lab-cp3.*\n/m, ''));
    const trust = await kpkiAsync(['ca', 'rotate', '-i', partial, '--ca', 'etcd-ca', '--phase', 'trust', '--yes']);
    assert.equal(trust.status, 0, trust.stdout + trust.stderr);
    const before = lab.controlPlanes.map((n) => hashTree(n.path(SSL)));
    const issue = await kpkiAsync(['ca', 'rotate', '-i', partial, '--ca', 'etcd-ca', '--phase', 'issue', '--yes']);
    assert.equal(issue.status, 1, issue.stdout + issue.stderr);
    assert.match(
      issue.stdout + issue.stderr,
      /https:\/\/127\.0\.0\.73:2379 \(an etcd member named by lab-cp1's kube-apiserver --etcd-servers or etcd's member list\) refuses a certificate of the new CA .*no node of the inventory runs that etcd member/,
    );
    assert.deepEqual(
      lab.controlPlanes.map((n) => hashTree(n.path(SSL))),
      before,
      'the refused issue phase wrote nothing',
    );
  } finally {
    await lab.stop();
  }
});
