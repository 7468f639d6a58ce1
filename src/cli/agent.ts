// kpki agent: the in-cluster renewal agent (a DaemonSet on the control-plane nodes, deploy/kubernetes/): every
// --interval it does what the timer does, serialized across the control plane by a coordination.k8s.io Lease
// instead of the etcd key, with the pod's service account (or --kubeconfig outside a pod).
import { Command } from 'commander';
import { hostname } from 'node:os';
import { UsageError } from '../errors.js';
import { apiAccessOf, ApiAccess } from '../api/client.js';
import { tryLeaseLock } from '../api/lease-lock.js';
import { renewalRun } from '../automation/renewal-run.js';
import { action, globalsOf, hostOf, log, requireLiveNode } from './context.js';
import { runOptionsOf, RunFlags, withRunOptions } from './run-flags.js';
import { durationFlag } from './flags.js';
import { readRegularFile, readRegularText } from '../util/read-file.js';

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

function inClusterAccess(): ApiAccess {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new UsageError('not in a pod (no KUBERNETES_SERVICE_HOST): give --kubeconfig');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readRegularFile(`${SERVICE_ACCOUNT}/ca.crt`),
    token: readRegularText(`${SERVICE_ACCOUNT}/token`).trim(),
  };
}

export function agentCommand(): Command {
  return withRunOptions(
    new Command('agent').description(
      'in-cluster renewal agent: what the timer does, every --interval, serialized by a coordination.k8s.io Lease',
    ),
  )
    .option('--interval <duration>', 'how often it looks', '1h')
    .option('--lease-namespace <ns>', 'namespace of the Lease', 'kube-system')
    .option('--lease-name <name>', 'name of the Lease', 'kpki-renewal')
    .option('--lease-duration <duration>', 'how long a lease outlives a holder that stopped renewing it', '60s')
    .option('--kubeconfig <file>', "API credentials outside a pod (default: the pod's service account)")
    .option('--node-name <name>', 'this node (default: $NODE_NAME from the downward API, else the host name)')
    .option('--once', 'one round, then exit with its code')
    .action(
      action(
        async (
          opts: RunFlags & {
            interval: string;
            leaseNamespace: string;
            leaseName: string;
            leaseDuration: string;
            kubeconfig?: string;
            nodeName?: string;
            once?: boolean;
          },
          command: Command,
        ) => {
          const globals = globalsOf(command);
          const host = hostOf(globals);
          requireLiveNode(host, 'kpki agent');
          const api = opts.kubeconfig ? apiAccessOf(readRegularText(opts.kubeconfig)) : inClusterAccess();
          const node = opts.nodeName ?? process.env.NODE_NAME ?? hostname();
          const durationSeconds = Math.max(15, Math.round(durationFlag('--lease-duration', opts.leaseDuration) / 1000));
          const intervalMs = durationFlag('--interval', opts.interval);
          const round = () =>
            renewalRun(host, {
              ...runOptionsOf(opts, globals, host),
              spacingMs: 15 * 60_000,
              clusterLock: {
                what: `lease ${opts.leaseNamespace}/${opts.leaseName}`,
                tryLock: () => tryLeaseLock(api, { namespace: opts.leaseNamespace, name: opts.leaseName, holder: node, durationSeconds }),
              },
            });
          if (opts.once) return round();
          let stopping = false;
          const stop = () => (stopping = true);
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
          log(`kpki agent on ${node}: every ${opts.interval}, lease ${opts.leaseNamespace}/${opts.leaseName} at ${api.server}`);
          while (!stopping) {
            await round().catch((err: Error) => log(`round failed: ${err.message}`));
            for (let slept = 0; slept < intervalMs && !stopping; slept += 1000) await new Promise((r) => setTimeout(r, 1000));
          }
          return 0;
        },
      ),
    );
}
