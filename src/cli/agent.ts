// kpki agent: the in-cluster renewal agent (a DaemonSet on the control-plane nodes, deploy/kubernetes/): every
// --interval it does what the timer does, serialized across the control plane by a coordination.k8s.io Lease
// instead of the etcd key, with the pod's service account (or --kubeconfig outside a pod).
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { KpkiError } from '../node/errors.js';
import { apiAccessOf, ApiAccess } from '../service/node-ready.js';
import { tryLeaseLock } from '../service/lease-lock.js';
import { renewalRun } from '../service/renewal-run.js';
import { action, globalsOf, hostOf, scanOptionsOf } from './context.js';
import { durationFlag } from './check.js';
import { defaultUserKubeconfig } from './kubeconfig.js';
import { log, requireLiveNode, strategyFlag, timeoutFlag } from './service.js';

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

function inClusterAccess(): ApiAccess {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new KpkiError('not in a pod (no KUBERNETES_SERVICE_HOST): give --kubeconfig', { exitCode: 2 });
  return { server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, ca: readFileSync(`${SERVICE_ACCOUNT}/ca.crt`), token: readFileSync(`${SERVICE_ACCOUNT}/token`, 'utf8').trim() };
}

export function agentCommand(): Command {
  return new Command('agent')
    .description('in-cluster renewal agent: what the timer does, every --interval, serialized by a coordination.k8s.io Lease')
    .option('--interval <duration>', 'how often it looks', '1h')
    .option('--renew-within <duration>', 'renew what expires within this window', '30d')
    .option('--max-wait <duration>', 'wait this long at most for the lease', '45m')
    .option('--lease-namespace <ns>', 'namespace of the Lease', 'kube-system')
    .option('--lease-name <name>', 'name of the Lease', 'kpki-renewal')
    .option('--lease-duration <duration>', 'how long a lease outlives a holder that stopped renewing it', '60s')
    .option('--kubeconfig <file>', 'API credentials outside a pod (default: the pod\'s service account)')
    .option('--node-name <name>', 'this node (default: $NODE_NAME from the downward API, else the host name)')
    .option('--strategy <name>', 'restart strategy: auto, manifest, crictl, docker, systemd', 'auto')
    .option('--timeout <duration>', 'how long each component may take to become healthy', '5m')
    .option('--retry <duration>', 'how often a waiting run tries the lease again', '10s')
    .option('--once', 'one round, then exit with its code')
    .action(
      action(async (opts: { interval: string; renewWithin: string; maxWait: string; leaseNamespace: string; leaseName: string; leaseDuration: string; kubeconfig?: string; nodeName?: string; strategy: string; timeout: string; retry: string; once?: boolean }, command: Command) => {
        const globals = globalsOf(command);
        const host = hostOf(globals);
        requireLiveNode(host, 'kpki agent');
        const api = opts.kubeconfig ? apiAccessOf(readFileSync(opts.kubeconfig, 'utf8')) : inClusterAccess();
        const node = opts.nodeName ?? process.env.NODE_NAME ?? hostname();
        const durationSeconds = Math.max(15, Math.round(durationFlag('--lease-duration', opts.leaseDuration) / 1000));
        const intervalMs = durationFlag('--interval', opts.interval);
        const round = () =>
          renewalRun(host, {
            renewWithinMs: durationFlag('--renew-within', opts.renewWithin),
            maxWaitMs: durationFlag('--max-wait', opts.maxWait),
            spacingMs: 15 * 60_000,
            retryMs: durationFlag('--retry', opts.retry),
            strategy: strategyFlag(opts.strategy),
            timeoutMs: timeoutFlag(opts.timeout),
            scan: scanOptionsOf(globals),
            rootKubeconfig: defaultUserKubeconfig(host),
            log,
            clusterLock: { what: `lease ${opts.leaseNamespace}/${opts.leaseName}`, tryLock: () => tryLeaseLock(api, { namespace: opts.leaseNamespace, name: opts.leaseName, holder: node, durationSeconds }) },
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
      }),
    );
}
