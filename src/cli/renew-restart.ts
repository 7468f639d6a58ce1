// renew --restart on one node: bring the renewed files into service (service/into-service.ts), then root's kubeconfig.
import type { Host } from '../hosts/host.js';
import type { BackupManifest } from '../node/txn/index.js';
import type { RenewalPlan } from '../node/renew/index.js';
import { updateRootKubeconfig } from '../node/kubeconfig/index.js';
import { bringIntoService } from '../service/into-service.js';
import type { StrategyName } from '../service/strategies.js';
import { defaultUserKubeconfig, log } from './context.js';

export async function renewedIntoService(
  host: Host,
  plan: RenewalPlan,
  backup: BackupManifest,
  o: { strategy: StrategyName; timeoutMs: number; kubeconfigDir?: string },
): Promise<number> {
  const renewed = plan.items.map((i) => i.name);
  const result = await bringIntoService(host, { renewed }, backup, { ...o, log });
  if (!result.ok) return 1;
  const inService = [...result.reloaded.map((c) => `${c} (reloaded by itself)`), ...result.restarted.map((c) => `${c} (restarted)`)];
  if (inService.length) log(`Done: ${inService.join(', ')}: healthy with the renewed certificates.`);
  for (const note of result.notes) log(`Note: ${note}`);
  await updateRootKubeconfig(host, renewed, defaultUserKubeconfig(host), log, o.kubeconfigDir);
  return 0;
}
