// kpki ca plan as text: the CA, what trusts it, what it signed, the API's view, restarts per node, the phases, and
// what people must handle. (-o json prints the plan object itself.)
import type { CaPlan } from '../cluster/ca-plan.js';
import { humanDuration } from '../util/duration.js';
import { renderColumns } from './table.js';

function header(plan: CaPlan, now: Date): string[] {
  const first = plan.nodes.find((n) => n.ca.present);
  if (!first) return [`${plan.ca}: not found on any node reached`];
  const cps = plan.nodes.filter((n) => n.role === 'control-plane');
  const withKey = cps.filter((n) => n.ca.keyPresent).length;
  const lines = [
    plan.ca === 'sa'
      ? `sa (the service-account key pair, ${first.ca.path}); private key on ${withKey} of ${cps.length} control-plane node(s)`
      : `${plan.ca} (${first.ca.subject}), expires ${first.ca.notAfter} (${first.ca.expired ? 'EXPIRED' : `in ${humanDuration(new Date(first.ca.notAfter!).getTime() - now.getTime())}`}); key on ${withKey} of ${cps.length} control-plane node(s)`,
  ];
  if (first.ca.joinHash) lines.push(`join commands pin it: --discovery-token-ca-cert-hash ${first.ca.joinHash}`);
  const rotating = plan.nodes.filter((n) => n.ca.alsoTrusted);
  if (rotating.length)
    lines.push(
      `a rotation is in progress: ${plan.ca === 'sa' ? 'sa.pub holds more than one key' : 'the CA file trusts more than one CA'} on ${rotating.map((n) => n.node).join(', ')} (kpki ca rotate --ca ${plan.ca} --phase verify tells where it stands)`,
    );
  return lines;
}

function nodeTables(plan: CaPlan): string[] {
  const out: string[] = [];
  const trust = plan.nodes.flatMap((n) =>
    n.trusts.map((t) => [
      n.node,
      t.path,
      t.via,
      t.readAt === 'start' ? 'at start (restart)' : t.readAt === 'change' ? 'on change' : 'per use',
      t.signs ? 'signs' : 'trusts',
    ]),
  );
  out.push(`\nTRUSTED BY (a bundle of old and new during the rotation)`);
  out.push(trust.length ? renderColumns([['NODE', 'FILE', 'NAMED BY', 'READ', 'ROLE'], ...trust]) : '  nothing on the nodes reached');
  const signed = plan.nodes.flatMap((n) => n.signed.map((s) => [n.node, s.name, s.path, s.usedBy.join(', ') || '-']));
  if (plan.ca !== 'sa') {
    out.push(`\nSIGNED BY ${plan.ca} (re-issued from the new CA)`);
    out.push(signed.length ? renderColumns([['NODE', 'CERTIFICATE', 'FILE', 'USED BY'], ...signed]) : '  nothing on the nodes reached');
  }
  const kubelets = plan.nodes.filter((n) => n.kubeletClient);
  if (kubelets.length) {
    out.push('\nKUBELET CLIENT CERTIFICATES');
    out.push(
      renderColumns([
        ['NODE', 'FILE', 'SIGNED BY THIS CA', 'ROTATION'],
        ...kubelets.map((n) => [
          n.node,
          n.kubeletClient!.path,
          n.kubeletClient!.signedByThisCa ? 'yes' : 'no',
          n.kubeletClient!.rotation ? 'on' : 'off (kpki renews it)',
        ]),
      ]),
    );
  }
  return out;
}

function apiLines(plan: CaPlan): string[] {
  if (!plan.api) return [`\nIN THE API: ${plan.apiMissing}`];
  const a = plan.api;
  const out = [`\nIN THE API (${a.via})`];
  if (a.rootCaConfigMaps)
    out.push(
      `  kube-root-ca.crt: in ${a.rootCaConfigMaps.namespaces} namespace(s), ${a.rootCaConfigMaps.holding} hold this CA (the controller-manager republishes them from --root-ca-file)`,
    );
  for (const cm of a.configMaps)
    out.push(`  ${cm.name} (${cm.key}): ${!cm.present ? 'not there' : cm.holds ? 'holds this CA' : 'does not hold this CA'}`);
  for (const b of a.caBundles) out.push(`  caBundle of ${b.kind} ${b.name} holds this CA: it gets the bundle too`);
  if (a.tokenPods)
    out.push(
      `  pods mounting a service-account token: ${a.tokenPods.pods} in ${a.tokenPods.namespaces.length} namespace(s) (${a.tokenPods.namespaces.join(', ') || '-'})`,
    );
  if (a.legacyTokenSecrets !== undefined) out.push(`  legacy service-account token Secrets: ${a.legacyTokenSecrets}`);
  for (const n of a.notVisible) out.push(`  not visible: ${n}`);
  return out;
}

export function renderCaPlan(plan: CaPlan, now = new Date()): string {
  const out = header(plan, now);
  for (const u of plan.unreachable) out.push(`NOT REACHED: ${u.node}: ${u.error}`);
  for (const d of plan.differences) out.push(`PROBLEM: ${d}`);
  out.push(...nodeTables(plan), ...apiLines(plan));
  out.push('\nRESTARTS PER NODE (estimate: what reads the changed files only at start)');
  out.push(
    renderColumns([
      ['NODE', 'TRUST', 'ISSUE', 'FINISH'],
      ...plan.nodes.map((n) => [
        n.node,
        n.restarts.trust.join(', ') || '-',
        n.restarts.issue.join(', ') || '-',
        n.restarts.finish.join(', ') || '-',
      ]),
    ]),
  );
  out.push('\nPHASES (kpki ca rotate --phase ...)');
  for (const p of plan.phases) out.push(`  ${p.phase}: ${p.does.join('; ')}`);
  out.push('\nKPKI CANNOT SEE THESE (people must handle them)');
  for (const o of plan.outside) out.push(`  - ${o}`);
  return `${out.join('\n')}\n`;
}
