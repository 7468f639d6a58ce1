// Renders a renewal plan and what must happen after it.
import { componentsUsingCertificate } from '../kubeadm/catalog.js';
import type { RenewalPlan } from '../node/renew/index.js';
import type { GateResult, NodePlan } from '../cluster/outcome.js';
import { OWN_CA } from '../node/scan/index.js';
import { octal } from '../node/scan/index.js';
import { humanDuration } from '../util/duration.js';
import { kubeadmDate } from './kubeadm-format.js';
import { renderColumns } from './table.js';

export function renderPlan(plan: RenewalPlan): string {
  const lines: string[] = [];
  lines.push(`Renewal plan for ${plan.node}: validity ${humanDuration(plan.validityMs)} (${plan.validitySource})`);
  if (plan.items.length === 0) {
    lines.push('Nothing to renew.');
  } else {
    const rows = [['CERTIFICATE', 'REASON', 'OLD EXPIRY', 'NEW EXPIRY', 'SIGNED BY', 'KEY']];
    for (const item of plan.items) {
      const key = item.reuseKey
        ? `reuse ${item.oldKeyAlgorithm}`
        : item.keyAlgorithm === item.oldKeyAlgorithm
          ? `new ${item.keyAlgorithm}`
          : `new ${item.keyAlgorithm} (was ${item.oldKeyAlgorithm})`;
      rows.push([
        item.name,
        item.reason,
        kubeadmDate(item.oldNotAfter),
        kubeadmDate(item.newNotAfter) + (item.capped ? ' (capped by CA)' : ''),
        item.signer === OWN_CA ? 'a new throwaway CA (as the kubelet does)' : item.signer,
        key,
      ]);
    }
    lines.push(renderColumns(rows).replace(/^/gm, '  '));
  }
  for (const item of plan.items.filter((i) => i.keepsChain > 0)) {
    lines.push(`chain: ${item.path} has ${item.keepsChain} certificate(s) after ${item.name}: they stay after the new one, unchanged`);
  }
  for (const m of plan.modeChanges ?? []) {
    lines.push(`mode: ${m.path} holds a private key and is ${octal(m.from)}: written ${octal(m.to)} (readable by its owner only)`);
  }
  if (plan.skipped.length) {
    lines.push('Skipped:');
    for (const s of plan.skipped) lines.push(`  ${s.name}: ${s.reason}`);
  }
  for (const w of plan.warnings) lines.push(`warning: ${w}`);
  return `${lines.join('\n')}\n`;
}

/** What the operator must do next: restart the components that use what changed. */
export function renderNextSteps(plan: RenewalPlan): string {
  const components = new Set<string>();
  for (const item of plan.items) for (const c of componentsUsingCertificate(item.name)) components.add(c);
  if (plan.items.some((i) => i.name.startsWith('etcd-node-'))) components.add('etcd');
  const order = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet'];
  const restart = order.filter((c) => components.has(c));
  const lines = ['Next steps:'];
  if (restart.length) {
    lines.push(`  restart, in this order, waiting for each to be healthy: ${restart.join(', ')}`);
    lines.push('  (static pods: move the manifest out of /etc/kubernetes/manifests, wait until the component stops, move it back;');
    lines.push('   or remove the pod with crictl/docker; the kubelet: systemctl restart kubelet)');
  } else {
    lines.push('  no component restart needed for what was renewed');
  }
  if (plan.items.some((i) => i.name === 'admin.conf' || i.name === 'super-admin.conf')) {
    lines.push('  users: update ~/.kube/config with the new admin credentials (it still holds the old ones)');
  }
  return `${lines.join('\n')}\n`;
}

/** What one node of a cluster operation needs: "== node (address, role): ..." and its plan. */
export function renderNodePlan(p: NodePlan): string {
  const parts: string[] = [];
  if (p.expired)
    parts.push(
      p.expired.length
        ? `expired: ${p.expired.map((e) => `${e.name} (${humanDuration(e.agoMs)} ago)`).join(', ')}`
        : 'no expired certificate',
    );
  if (p.kubelet) {
    const { client, clientDue, servingDue } = p.kubelet;
    const serving = servingDue
      ? `; serving certificate expires ${kubeadmDate(servingDue.notAfter)}: will be renewed in the kubelet's shape`
      : '';
    const found = client ? `expires ${kubeadmDate(client.notAfter)}${client.commonName ? ` (${client.commonName})` : ''}` : 'not found';
    parts.push(`kubelet client certificate ${found}${clientDue ? ': will be renewed' : serving ? '' : ': nothing to do'}${serving}`);
  }
  const head = `== ${p.node} (${p.address}, ${p.role})${parts.length ? `: ${parts.join('; ')}` : ''}`;
  return p.plan ? `${head}\n${renderPlan(p.plan)}` : head;
}

/** A gate that failed: which one, after which node, and every problem it found. */
export function renderGate(g: GateResult): string {
  return `${g.gate} gate failed after ${g.after}:\n  ${g.problems.join('\n  ')}`;
}
