// kpki import -i: a node's part of the rollout is the CA team's certificates for the requests it made (DIR/<node>/),
// each checked by planImport against the node's CA, its pending key and what was asked, instead of certificates kpki
// signs. Shown as a plan like a renewal's, written and brought into service the same way.
import type { Host } from '../hosts/host.js';
import { planImport } from '../node/external-ca/index.js';
import { readSignedRequests } from '../node/external-ca/index.js';
import type { FileWrite } from '../node/renew/index.js';
import type { RenewalPlan } from '../node/renew/index.js';
import type { NodeScan } from '../node/scan/index.js';

export interface NodeImport {
  plan: RenewalPlan;
  writes: FileWrite[];
}

export async function importPlanFor(host: Host, scan: NodeScan, from: string, node: string, now: Date): Promise<NodeImport> {
  const requests = readSignedRequests(from, node);
  const plan: RenewalPlan = {
    node,
    items: [],
    modeChanges: [],
    skipped: [],
    validityMs: 0,
    validitySource: requests ? `as signed by the external CA (${requests.dir})` : `no requests of this node under ${from}`,
    warnings: [],
  };
  if (!requests) return { plan, writes: [] };
  const signed = await planImport(host, scan, requests.manifest, requests.signed, now);
  plan.items = signed.items.map((i) => ({
    name: i.name,
    path: i.path,
    reason: 'signed by the external CA',
    signer: i.ca,
    oldNotAfter: i.oldNotAfter ?? i.notBefore,
    newNotBefore: i.notBefore,
    newNotAfter: i.notAfter,
    capped: false,
    reuseKey: false,
    keyAlgorithm: i.keyAlgorithm,
    oldKeyAlgorithm: i.oldKeyAlgorithm ?? i.keyAlgorithm,
    keepsChain: 0,
  }));
  plan.validityMs = Math.max(0, ...signed.items.map((i) => i.notAfter.getTime() - i.notBefore.getTime()));
  return { plan, writes: signed.writes };
}
