// Pure parts of the cluster layer: etcd's quorum arithmetic and sync check, which backup a cluster restore picks,
// the rollout report, the plain progress lines, what reloads by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdProblems, spareMembers, EtcdMemberState } from '../../src/service/etcd.js';
import { pickBackup } from '../../src/cluster/backups.js';
import { newReport, type Refusal, type RolloutReport, startOperation, tracking } from '../../src/cluster/outcome.js';
import { exitCodeOf, refusalOf } from '../../src/cli/exit-codes.js';
import { describeError, KpkiError } from '../../src/errors.js';
import { renderRolloutReport } from '../../src/report/rollout.js';
import { plainProgress } from '../../src/report/progress.js';
import { componentsUsing, reloadsByItself } from '../../src/service/into-service.js';
import type { Component } from '../../src/service/health.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalHost } from '../../src/hosts/local.js';
import { readRolloutJournal } from '../../src/cluster/rollout/journal.js';
import type { BackupManifest } from '../../src/node/txn/backup.js';

const member = (name: string, healthy: boolean, leader = 'L', raftIndex = 100): EtcdMemberState => ({
  member: { id: name, name, clientUrls: [] },
  healthy,
  leader,
  raftIndex,
  detail: healthy ? 'ok' : 'down',
});

test('etcd: members to spare, a member down, leaders that disagree, a member that lags', () => {
  assert.equal(spareMembers([member('a', true), member('b', true), member('c', true)]), 1);
  assert.equal(spareMembers([member('a', true), member('b', true), member('c', false)]), 0);
  assert.equal(spareMembers([member('a', true), member('b', true), member('c', true), member('d', true), member('e', false)]), 1);
  assert.deepEqual(etcdProblems([member('a', true), member('b', true), member('c', true)]), []);
  assert.deepEqual(etcdProblems([member('a', true), member('b', false), member('c', true)]), ['etcd member b: down']);
  assert.match(etcdProblems([member('a', true, 'L1'), member('b', true, 'L2')]).join(), /disagree on the leader/);
  assert.match(etcdProblems([member('a', true, 'L', 5000), member('b', true, 'L', 100)]).join(), /etcd member b: 4900 raft entries behind/);
});

test("restore -i picks a node's backup by rollout id, by backup id, or the latest", () => {
  const b = (id: string, reason: string) => ({ id, reason, createdAt: id, node: 'n', files: [] }) as BackupManifest;
  const backups = [b('1', 'renew'), b('2', 'renew (rollout r1)'), b('3', 'kubelet renew (rollout r2)'), b('4', 'before restore of 2')];
  assert.equal(pickBackup(backups, 'r1')?.id, '2');
  assert.equal(pickBackup(backups, 'r2')?.id, '3');
  assert.equal(pickBackup(backups, '1')?.id, '1');
  assert.equal(pickBackup(backups, 'latest')?.id, '4');
  assert.equal(pickBackup(backups, 'r9'), undefined);
});

test('what reloads its certificates by itself, and what must be restarted', () => {
  assert.deepEqual(componentsUsing({ renewed: ['etcd-server', 'etcd-peer', 'apiserver'] }), ['etcd', 'kube-apiserver']);
  assert.equal(reloadsByItself('etcd', { renewed: ['etcd-server', 'etcd-peer', 'admin.conf'] }), true);
  assert.equal(reloadsByItself('kube-apiserver', { renewed: ['apiserver'] }), true);
  assert.equal(
    reloadsByItself('kube-apiserver', { renewed: ['apiserver', 'apiserver-etcd-client'] }),
    false,
    'its etcd client certificate is loaded at start',
  );
  assert.equal(reloadsByItself('kube-controller-manager', { renewed: ['controller-manager.conf'] }), false);
  // a changed CA bundle (a rotation) restarts what reads it at start, in kubeadm's order, even what reloads by itself
  const rotated = { renewed: ['etcd-server'], restart: ['kubelet', 'kube-apiserver'] as Component[] };
  assert.deepEqual(componentsUsing(rotated), ['etcd', 'kube-apiserver', 'kubelet']);
  assert.equal(reloadsByItself('kube-apiserver', { renewed: ['apiserver'], restart: ['kube-apiserver'] }), false);
  assert.equal(reloadsByItself('etcd', rotated), true);
});

test('the rollout report: every node, what changed with old and new expiry; plain progress lines', () => {
  const report = newReport('renew', [
    { name: 'cp1', address: '127.0.0.11', role: 'control-plane' },
    { name: 'w1', address: '127.0.0.14', role: 'worker' },
  ]);
  Object.assign(report, { rollout: 'r1', result: 'stopped' });
  Object.assign(report.nodes[0], {
    outcome: 'rolled-back',
    durationMs: 12_300,
    detail: 'kube-apiserver: not healthy',
    backup: 'B1',
    restarted: ['kube-apiserver'],
    reloaded: ['etcd'],
    certificates: [{ name: 'apiserver', oldNotAfter: '2026-12-11T00:00:00Z', newNotAfter: '2027-12-01T00:00:00Z' }],
  });
  report.nodes[1].outcome = 'not-touched';
  const text = renderRolloutReport(report);
  assert.match(text, /^Rollout r1: stopped$/m);
  assert.match(text, /^cp1 +control-plane +rolled-back +12\.3s +1 +etcd \(reload\), kube-apiserver \(restart\) +B1$/m);
  assert.match(text, /^cp1 +apiserver +Dec 11, 2026 00:00 UTC +Dec 01, 2027 00:00 UTC$/m);
  assert.match(text, /^cp1: kube-apiserver: not healthy$/m);
  const lines: string[] = [];
  const events = plainProgress((t) => lines.push(t));
  events.step('cp1', 'restart kube-apiserver');
  events.log('two\nlines', 'cp1');
  events.finished('cp1', 'renewed', 'in 3 s');
  assert.match(
    lines.join(''),
    /^\d\d:\d\d:\d\d cp1: restart kube-apiserver\n\d\d:\d\d:\d\d cp1:   two\n\d\d:\d\d:\d\d cp1:   lines\n\d\d:\d\d:\d\d cp1: RENEWED: in 3 s\n$/,
  );
});

test('events carry data: plans and gate verdicts land in the JSON report; only report/ renders them; errors keep file and hint', () => {
  const report = newReport('renew', [{ name: 'cp1', address: '127.0.0.11', role: 'control-plane' }]);
  const lines: string[] = [];
  const events = tracking(
    report,
    plainProgress((t) => lines.push(t)),
  );
  const notAfter = new Date('2027-01-01T00:00:00Z');
  events.planned({ node: 'cp1', address: '127.0.0.11', role: 'control-plane', kubelet: { client: { notAfter }, clientDue: true } });
  events.gated({ gate: 'cluster', after: 'cp1', ok: true, problems: [] });
  events.gated({ gate: 'node Ready', after: 'cp1', ok: false, problems: ['cp1: node cp1 not Ready'] });
  assert.deepEqual(report.nodes[0].planned, [{ name: 'kubelet-client', oldNotAfter: notAfter.toISOString() }]);
  assert.deepEqual(
    report.nodes[0].gates?.map((g) => `${g.gate}:${g.ok}`),
    ['cluster:true', 'node Ready:false'],
  );
  const text = lines.join('');
  assert.match(text, /== cp1 \(127\.0\.0\.11, control-plane\): kubelet client certificate expires Jan 01, 2027 00:00 UTC: will be renewed/);
  assert.match(text, /cp1:   node Ready gate failed after cp1:\n.*cp1:     cp1: node cp1 not Ready/);
  assert.doesNotMatch(text, /cluster gate failed/, 'a gate that passed is in the report, not in the log');
  assert.equal(
    describeError(new KpkiError('cannot renew apiserver', { path: '/etc/kubernetes/pki/apiserver.crt', hint: 'restore it' })),
    'cannot renew apiserver (/etc/kubernetes/pki/apiserver.crt); hint: restore it',
  );
  assert.equal(describeError(new Error('plain')), 'plain');
});

test('a rollout journal of an earlier kpki (restarts as "restart:<component>" names, modes side by side) is read as typed restarts and one kind of work', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kpki-journal-'));
  try {
    const host = new LocalHost(root, 'cp1');
    mkdirSync(join(root, 'var/lib/kpki'), { recursive: true });
    const legacy = {
      rollout: 'r1',
      operation: 'ca rotate',
      startedAt: '2026-12-01T00:00:00Z',
      by: 'pid 1 on laptop',
      settings: { names: [], strategy: 'auto', timeoutMs: 1000, maxUnavailable: 1, caRotation: { ca: 'etcd-ca', phase: 'trust' } },
      nodes: ['cp1'],
      node: 'cp1',
      step: 'written',
      backup: 'b1',
      renewed: ['etcd-ca', 'restart:etcd', 'restart:kube-apiserver'],
      changes: [{ name: 'etcd-ca' }, { name: 'restart:etcd' }, { name: 'restart:kube-apiserver' }],
      updatedAt: '',
    };
    writeFileSync(join(root, 'var/lib/kpki/rollout.json'), JSON.stringify(legacy));
    const journal = await readRolloutJournal(host);
    assert.deepEqual(journal?.renewed, ['etcd-ca']);
    assert.deepEqual(journal?.changes, [{ name: 'etcd-ca' }]);
    assert.deepEqual(journal?.restart, ['etcd', 'kube-apiserver']);
    assert.deepEqual(componentsUsing({ renewed: journal!.renewed!, restart: journal!.restart }), ['etcd', 'kube-apiserver']);
    // its settings' modes side by side (caRotation, importFrom, sans) become one kind of work
    assert.deepEqual(journal?.settings.work, { kind: 'ca-phase', ca: 'etcd-ca', phase: 'trust' });
    assert.equal('caRotation' in (journal?.settings ?? {}), false);
    const kinds: [Record<string, unknown>, unknown][] = [
      [{}, { kind: 'renew' }],
      [{ importFrom: '/srv/signed' }, { kind: 'import', from: '/srv/signed' }],
      [
        { sans: { cert: 'apiserver', add: ['DNS:k8s.example'], remove: [] } },
        { kind: 'san', change: { cert: 'apiserver', add: ['DNS:k8s.example'], remove: [] } },
      ],
    ];
    for (const [mode, work] of kinds) {
      writeFileSync(
        join(root, 'var/lib/kpki/rollout.json'),
        JSON.stringify({ ...legacy, settings: { ...legacy.settings, caRotation: undefined, ...mode } }),
      );
      assert.deepEqual((await readRolloutJournal(host))?.settings.work, work, JSON.stringify(mode));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('exit codes come from the report alone: one table for results and refusals, and the answer to a question', () => {
  const report = (result: RolloutReport['result'], refusal?: Refusal): RolloutReport => ({
    ...newReport('renew', []),
    result,
    refusal,
  });
  for (const result of ['complete', 'continues', 'nothing-to-do', 'dry-run'] as const) assert.equal(exitCodeOf(report(result)), 0, result);
  for (const result of ['stopped', 'interrupted'] as const) assert.equal(exitCodeOf(report(result)), 1, result);
  assert.equal(exitCodeOf(report('refused', 'blocked')), 1);
  assert.equal(exitCodeOf(report('refused', 'declined')), 1);
  assert.equal(exitCodeOf(report('refused', 'invalid')), 2);
  assert.equal(exitCodeOf(report('refused', 'no-terminal')), 2);
  assert.equal(exitCodeOf(report(undefined)), 1, 'an operation that never ended is not a success');
  // cli/context.ts confirm: 2 when there is no terminal to ask on, 1 when the operator says no
  assert.equal(refusalOf(undefined), undefined);
  assert.equal(refusalOf(1), 'declined');
  assert.equal(refusalOf(2), 'no-terminal');
  // and an operation's refuse() records why in the report
  const op = startOperation('renew', [], { planned() {}, step() {}, finished() {}, gated() {}, log() {} });
  assert.deepEqual(
    { result: op.refuse('invalid', 'no such CA').report.result, refusal: op.report.refusal },
    { result: 'refused', refusal: 'invalid' },
  );
});
