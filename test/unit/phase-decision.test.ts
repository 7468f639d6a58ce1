// The rotation's profiles and decisions, state by state, without a cluster: whether the control-plane nodes may take a writing
// phase (phaseDecision), and what an interrupted rollout's journal means for the phase asked for (journalDecision).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type NodeStage, phaseDecision } from '../../src/node/rotation/phase-decision.js';
import { type InterruptedRotation, journalDecision, renewResumeDecision } from '../../src/cluster/rollout/journal-decision.js';
import { type Phase, ROTATABLE, TRUST_FLAGS } from '../../src/kubeadm/ca-trust.js';
import { type PhaseRun, runPhases } from '../../src/cluster/ca-phases.js';
import { ROTATION_PROFILES } from '../../src/kubeadm/rotation-profiles.js';

const OLD = 'old-ca';
const NEW = 'new-ca';

function node(name: string, stage: NodeStage['stage'], signerId: string, nextId?: string, nextWaiting = nextId !== undefined): NodeStage {
  return { node: name, stage, signerId, nextId, nextWaiting, described: `${stage} ${signerId}${nextId ? ` → ${nextId}` : ''}` };
}

const single = (name: string, signer = OLD) => node(name, 'single', signer);
const trusted = (name: string, next = NEW) => node(name, 'trusted', OLD, next);
const issued = (name: string, signer = NEW) => node(name, 'issued', signer);

test('trust: from one CA it goes (the target is made later); a rotation started on some nodes continues to its CA', () => {
  assert.deepEqual(phaseDecision([single('a'), single('b'), single('c')], 'trust'), { target: undefined });
  assert.deepEqual(phaseDecision([trusted('a'), single('b'), single('c')], 'trust'), { target: NEW });
  assert.deepEqual(phaseDecision([trusted('a'), trusted('b'), trusted('c')], 'trust'), { target: NEW });
});

test('trust: nodes that do not share one CA, or that move to different new CAs, are refused with every node named', () => {
  const differ = phaseDecision([single('a'), single('b', 'other-ca'), single('c')], 'trust');
  assert.match(differ.refusal ?? '', /the nodes' CAs differ \(a rotation must start from one CA\)/);
  for (const name of ['a', 'b', 'c']) assert.match(differ.refusal ?? '', new RegExp(`\\n  ${name}: single`));
  const two = phaseDecision([trusted('a', 'new-1'), trusted('b', 'new-2'), single('c')], 'trust');
  assert.match(two.refusal ?? '', /moving to different new CAs/);
});

test('trust: once the new CA signs somewhere, the trust phase is behind the rotation', () => {
  assert.deepEqual(phaseDecision([issued('a'), trusted('b'), trusted('c')], 'trust'), {
    done: 'the new CA already signs: the trust phase is behind this rotation',
  });
  assert.deepEqual(phaseDecision([issued('a'), issued('b'), issued('c')], 'trust').done !== undefined, true);
});

test('issue: every node must trust the new CA first; a node already issued continues', () => {
  assert.deepEqual(phaseDecision([trusted('a'), trusted('b'), trusted('c')], 'issue'), { target: NEW });
  assert.deepEqual(phaseDecision([issued('a'), trusted('b'), trusted('c')], 'issue'), { target: NEW });
  assert.deepEqual(phaseDecision([issued('a'), issued('b'), issued('c')], 'issue'), { target: NEW });
  const notYet = phaseDecision([trusted('a'), trusted('b'), single('c')], 'issue');
  assert.match(notYet.refusal ?? '', /every control-plane node must trust the new CA before any signs with it: run the trust phase first/);
  assert.match(notYet.refusal ?? '', /\n {2}c: single old-ca/);
  // a new CA's files beside a CA file that does not trust it yet (a trust phase cut short) is not trusting
  const waitingOnly = phaseDecision([trusted('a'), trusted('b'), node('c', 'single', OLD, NEW, true)], 'issue');
  assert.match(waitingOnly.refusal ?? '', /run the trust phase first/);
});

test('finish: the new CA must sign everywhere; a finished node continues; all finished is done', () => {
  assert.deepEqual(phaseDecision([issued('a'), issued('b'), issued('c')], 'finish'), { target: NEW });
  assert.deepEqual(phaseDecision([single('a', NEW), issued('b'), issued('c')], 'finish'), { target: NEW });
  assert.deepEqual(phaseDecision([single('a', NEW), single('b', NEW), single('c', NEW)], 'finish'), {
    done: 'no bundle left: every node trusts one CA',
  });
  const early = phaseDecision([issued('a'), issued('b'), trusted('c')], 'finish');
  assert.match(early.refusal ?? '', /the new CA must sign on every control-plane node first: run the issue phase/);
  const apart = phaseDecision([issued('a'), issued('b'), single('c', OLD)], 'finish');
  assert.match(apart.refusal ?? '', /run the issue phase/);
});

test('finish and issue: nodes that moved to different new CAs are refused before anything else', () => {
  for (const phase of ['issue', 'finish'] as const) {
    const decision = phaseDecision([issued('a', 'new-1'), issued('b', 'new-2'), issued('c', 'new-1')], phase);
    assert.match(decision.refusal ?? '', /moving to different new CAs/, phase);
  }
});

const journal = (over: Partial<InterruptedRotation> = {}): InterruptedRotation => ({
  rollout: 'r1',
  operation: 'ca rotate',
  startedAt: '2026-12-08T00:00:00Z',
  by: 'ops@laptop',
  rotation: { ca: 'etcd-ca', phase: 'issue' },
  ...over,
});

test('journalDecision: no journal starts; the same phase resumes only with --resume', () => {
  assert.deepEqual(journalDecision(undefined, { ca: 'etcd-ca', phase: 'trust', resume: false }), { kind: 'start' });
  assert.deepEqual(journalDecision(journal(), { ca: 'etcd-ca', phase: 'issue', resume: true }), { kind: 'resume', rollout: 'r1' });
  const without = journalDecision(journal(), { ca: 'etcd-ca', phase: 'issue', resume: false });
  assert.equal(without.kind, 'refused');
  assert.match(
    without.kind === 'refused' ? without.message : '',
    /The issue phase of rollout r1 \(started 2026-12-08T00:00:00Z by ops@laptop\) was interrupted: continue it with --resume\./,
  );
});

test('journalDecision: an earlier phase is past, a later one must wait, another CA or operation is named with its command', () => {
  const past = journalDecision(journal(), { ca: 'etcd-ca', phase: 'trust', resume: true });
  assert.deepEqual(past, { kind: 'past', message: 'The interrupted rotation is past the trust phase (its issue phase is to be resumed).' });
  const later = journalDecision(journal(), { ca: 'etcd-ca', phase: 'finish', resume: true });
  assert.deepEqual(later, {
    kind: 'refused',
    message: 'The issue phase of this rotation was interrupted: resume it first (--phase issue --resume).',
  });
  const otherCa = journalDecision(journal(), { ca: 'sa', phase: 'issue', resume: true });
  assert.match(otherCa.kind === 'refused' ? otherCa.message : '', /kpki ca rotate --ca etcd-ca --phase issue --resume/);
  const renew = journalDecision(journal({ operation: 'renew', rotation: undefined }), { ca: 'etcd-ca', phase: 'trust', resume: true });
  assert.match(
    renew.kind === 'refused' ? renew.message : '',
    /An interrupted renew rollout r1 left its journal on the nodes: finish it first \(kpki renew -i \.\.\. --resume\)\./,
  );
});

test('rotation profiles: one per rotatable thing, each with its trust flags; only a CA is served or trusted by workers', () => {
  assert.deepEqual(Object.keys(ROTATION_PROFILES).sort(), [...ROTATABLE].sort());
  for (const name of ROTATABLE) {
    const profile = ROTATION_PROFILES[name];
    assert.equal(profile.name, name);
    assert.ok(TRUST_FLAGS[name].length > 0, `${name}: the flags that read it`);
    assert.equal(profile.noun, profile.kind === 'ca' ? 'CA' : 'key', name);
    if (profile.kind === 'key') {
      assert.equal(profile.servedBy, undefined, `${name}: a key pair is not served as a chain`);
      assert.equal(profile.trustedByWorkers, false, name);
    }
    assert.equal(Boolean(profile.servedBy), Boolean(profile.servedText), `${name}: what verify says matches what it checks`);
    for (const phase of ['trust', 'issue', 'finish'] as const) assert.ok(profile.nextStep[phase], `${name} ${phase}`);
  }
  // the cluster CA alone reaches past the control plane: kubelets, kubeadm join's discovery
  assert.deepEqual(
    ROTATABLE.filter((n) => ROTATION_PROFILES[n].trustedByWorkers || ROTATION_PROFILES[n].inClusterInfo),
    ['ca'],
  );
});

test('runPhases: in order; a first step runs its phase once more; the first phase that does not complete stops; a dry run plans one', async () => {
  const script = (results: Record<string, (PhaseRun | undefined)[]>) => {
    const ran: string[] = [];
    const run = async (phase: Phase): Promise<PhaseRun> => {
      ran.push(phase);
      return results[phase]?.shift() ?? { code: 0, result: 'complete' };
    };
    return { ran, run };
  };
  const all: Phase[] = ['trust', 'issue', 'verify', 'finish'];
  const plain = script({});
  assert.deepEqual(await runPhases(all, plain.run), { code: 0 });
  assert.deepEqual(plain.ran, all);

  const firstStep = script({ trust: [{ code: 0, result: 'continues' }] });
  assert.deepEqual(await runPhases(all, firstStep.run), { code: 0 });
  assert.deepEqual(firstStep.ran, ['trust', 'trust', 'issue', 'verify', 'finish']);

  const twice = script({
    trust: [
      { code: 0, result: 'continues' },
      { code: 0, result: 'continues' },
    ],
  });
  await runPhases(['trust', 'issue'], twice.run);
  assert.deepEqual(twice.ran, ['trust', 'trust', 'issue'], 'a phase is run again once, never in a loop');

  const stopped = script({ issue: [{ code: 1, result: 'stopped' }] });
  assert.deepEqual(await runPhases(all, stopped.run), { code: 1 });
  assert.deepEqual(stopped.ran, ['trust', 'issue']);

  const dry = script({ trust: [{ code: 0, result: 'nothing-to-do' }], issue: [{ code: 0, result: 'dry-run' }] });
  assert.deepEqual(await runPhases(all, dry.run), { code: 0, dryRunAfter: 'issue' });
  assert.deepEqual(dry.ran, ['trust', 'issue']);
});

test('renewResumeDecision: renew -i resumes only its own rollout, with --resume and the same nodes', () => {
  const nodes = ['cp1', 'cp2', 'cp3'];
  const renew = { ...journal({ operation: 'renew', rotation: undefined }), nodes };
  const asked = { resume: true, nodes, journalsOn: nodes };
  assert.deepEqual(renewResumeDecision(undefined, { ...asked, resume: false }), { kind: 'start' });
  assert.equal(renewResumeDecision(undefined, asked).kind, 'nothing-to-resume');
  assert.deepEqual(renewResumeDecision(renew, asked), { kind: 'resume' });
  const without = renewResumeDecision(renew, { ...asked, resume: false });
  assert.match(without.kind === 'refused' ? without.message : '', /left its journal on cp1, cp2, cp3: continue it with --resume\./);
  const fewer = renewResumeDecision(renew, { ...asked, nodes: ['cp1', 'cp2'] });
  assert.match(fewer.kind === 'refused' ? fewer.message : '', /also covers cp3: resume it with the same nodes \(--nodes cp1,cp2,cp3\)/);
  // a rotation's journal is its own command's to finish, with or without --resume
  for (const resume of [true, false]) {
    const rotation = renewResumeDecision({ ...journal(), nodes }, { ...asked, resume });
    assert.match(
      rotation.kind === 'refused' ? rotation.message : '',
      /An interrupted ca rotate rollout r1 left its journal on the nodes: finish it first \(kpki ca rotate --ca etcd-ca --phase issue --resume\)\./,
    );
  }
});
