// kpki demo: the main job on an embedded default — an expired control-plane node in a temp dir, checked, renewed,
// checked again and verified. Needs no root rights and touches nothing outside the directory it names.
import { Command } from 'commander';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalHost } from '../hosts/local.js';
import { buildControlPlaneNode, makeClusterCas } from '../trees/index.js';
import { scanNode } from '../node/scan/index.js';
import { OWN_CA, SELF_SIGNED } from '../node/scan/index.js';
import { renewNode } from '../service/renew-node.js';
import { nodeSeverity, Thresholds } from '../report/status.js';
import { renderTable } from '../report/table.js';
import { renderNextSteps, renderPlan } from '../report/plan.js';
import { isSignedBy, keyMatchesCertificate } from '../pki/certificate.js';
import { action } from './context.js';

const DAY = 86_400_000;

export function demoCommand(): Command {
  return new Command('demo')
    .description('build an expired kubeadm control-plane node in a temp dir, check it, renew it, verify it')
    .option('--dir <dir>', 'where to build the demo node (default: a new temp dir)')
    .option('--ecdsa', 'use ECDSA keys (faster) instead of RSA-2048')
    .action(
      action(async (opts: { dir?: string; ecdsa?: boolean }) => {
        const root = opts.dir ?? mkdtempSync(join(tmpdir(), 'kpki-demo-'));
        const out = (s: string) => process.stdout.write(s);
        const colour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
        const now = Date.now();
        out(`Building a kubeadm 1.29 control-plane node whose certificates expired 35 days ago, under ${root}\n\n`);
        const cas = await makeClusterCas({ keyAlgorithm: opts.ecdsa ? 'ECDSA-P256' : 'RSA-2048', notBefore: new Date(now - 400 * DAY) });
        await buildControlPlaneNode(root, cas, {
          nodeName: 'demo-cp1',
          address: '127.0.0.11',
          leafNotBefore: new Date(now - 400 * DAY),
          leafNotAfter: new Date(now - 35 * DAY),
        });
        const host = new LocalHost(root, 'demo-cp1');
        const thresholds: Thresholds = { warnMs: 30 * DAY, critMs: 7 * DAY, now: new Date() };

        out(`$ kpki --root ${root} check\n`);
        const before = await scanNode(host);
        out(renderTable(before, thresholds, colour));
        out(`(exit code ${nodeSeverity(before, thresholds)}: critical)\n\n`);

        out(`$ kpki --root ${root} renew all --yes\n`);
        // the same path as `kpki renew all --yes`
        const { plan, backup } = await renewNode(host, {
          scan: {},
          plan: { names: ['all'] },
          reason: 'renew',
          log: (line) => out(`kpki: ${line}\n`),
          review: async (p) => void out(renderPlan(p)),
        });
        const backupId = backup!.id;
        out(`Renewed ${plan.items.length} certificate(s); backup ${backupId} (undo with: kpki --root ${root} restore ${backupId})\n`);
        out(renderNextSteps(plan));

        out(`\n$ kpki --root ${root} check\n`);
        const after = await scanNode(host);
        const afterThresholds = { ...thresholds, now: new Date() };
        out(renderTable(after, afterThresholds, colour));
        const failures = verify(after);
        const severity = nodeSeverity(after, afterThresholds);
        out(`(exit code ${severity})\n\n`);
        if (failures.length || severity !== 0) {
          out(`Verification FAILED:\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
          return 1;
        }
        out('Verified: every renewed certificate is signed by its CA (checked by key), matches its private key and is valid for a year.\n');
        out(`The node tree is in ${root} — try: npx kpki --root ${root} check -o kubeadm\n`);
        return 0;
      }),
    );
}

function verify(scan: Awaited<ReturnType<typeof scanNode>>): string[] {
  const failures: string[] = [];
  for (const entry of scan.entries) {
    if (!entry.renewable || !entry.cert) continue;
    const ca =
      entry.signer === SELF_SIGNED
        ? { cert: entry.cert }
        : entry.signer === OWN_CA
          ? { cert: entry.ownCa }
          : scan.cas.find((c) => c.name === entry.signer);
    if (!ca?.cert || !isSignedBy(entry.cert, ca.cert)) failures.push(`${entry.name}: not signed by ${entry.signer}`);
    if (!entry.key || !keyMatchesCertificate(entry.cert, entry.key)) failures.push(`${entry.name}: key does not match`);
    // (the kubelet's own serving certificate is backdated an hour, as client-go does)
    if (entry.cert.notAfter.getTime() < Date.now() + 364 * DAY - 3600_000)
      failures.push(`${entry.name}: expires ${entry.cert.notAfter.toISOString()}`);
  }
  return failures;
}
