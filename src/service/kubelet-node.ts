// The kubelet on one node, end to end: its client certificate renewed offline the kubelet's way (plan, the
// operator's review, lock → backup → write → restart → ask the API server whether it authenticates), and its
// rotation turned on (the kubelet's config and the controller-manager's flag, each brought into service). The CLI
// only renders the plan and asks; every step that touches the node is here.
import type { KeyObject } from 'node:crypto';
import { describeNetworkError, httpGet } from '../api/http.js';
import { KpkiError, UsageError } from '../errors.js';
import type { Host } from '../hosts/host.js';
import { parseKubeconfig } from '../kubeadm/kubeconfig.js';
import { type KubeletStatus, kubeletNodeName, kubeletStatus, planKubeletRenewal, planRotation } from '../node/kubelet/index.js';
import { type NodeScan, type ScanOptions, scanNode } from '../node/scan/index.js';
import { applyWrites, withNodeLock } from '../node/txn/index.js';
import { type Certificate, parseCertificate } from '../pki/certificate.js';
import { readServices, waitHealthy } from './health.js';
import { restartComponent } from './restart.js';

type Signer = { cert: Certificate; key: KeyObject };
export type KubeletRenewal = Awaited<ReturnType<typeof planKubeletRenewal>>;
type RotationPlan = Awaited<ReturnType<typeof planRotation>>;

export interface KubeletRenewOptions {
  scan: ScanOptions;
  /** --ca-cert/--ca-key, read on the operator's side when needed, when the node has no CA key (a worker). */
  ca?: () => Signer;
  /** The file the CA came from, for messages. */
  caFile?: string;
  nodeName?: string;
  validityMs: number;
  restart: boolean;
  log: (line: string) => void;
  /** Shows the plan; undefined to go on, or the exit code to end with (a dry run, the operator's no). */
  review: (renewal: KubeletRenewal, nodeName: string) => Promise<number | undefined>;
}

/** kpki kubelet renew on this node (or the disk at --root): the exit code. */
export async function renewKubeletHere(host: Host, o: KubeletRenewOptions): Promise<number> {
  const scan = await scanNode(host, o.scan);
  const status = await kubeletStatus(host, scan);
  if (status.identity === 'missing')
    throw new KpkiError(`${host.describe(status.kubeconfig)} does not exist: this node has not joined a cluster`);
  const ca = await kubeletSigner(host, scan, status, o.ca, o.caFile);
  const nodeName = kubeletNodeName(status, o.nodeName);
  const renewal = await planKubeletRenewal(host, status, ca, { nodeName, validityMs: o.validityMs, now: new Date() });
  const stop = await o.review(renewal, nodeName);
  if (stop !== undefined) return stop;
  await withNodeLock(host, async () => {
    const { backup } = await applyWrites(host, renewal.writes, 'kubelet renew');
    o.log(`Renewed; backup ${backup.id} (undo with: kpki restore ${backup.id})`);
    if (o.restart && host.live) {
      const result = await restartComponent(host, await readServices(host), 'kubelet', {
        strategy: 'systemd',
        timeoutMs: 120_000,
        log: o.log,
      });
      o.log(result.skipped ? `Note: ${result.skipped}` : `kubelet: ${result.detail}`);
    }
  });
  return verifyAuthenticates(status.kubeconfig, await host.readFile(status.kubeconfig), renewal, nodeName, o.log);
}

/** The cluster CA that signs: the node's own (a control-plane node), or the one given, checked against what it trusts. */
async function kubeletSigner(host: Host, scan: NodeScan, status: KubeletStatus, read?: () => Signer, givenFile?: string): Promise<Signer> {
  const nodeCa = scan.cas.find((c) => c.name === 'ca');
  if (read) {
    const given = read();
    const trusted =
      nodeCa?.cert ??
      parseCertificate(parseKubeconfig((await host.readFile(status.kubeconfig)).toString()).certificateAuthorityData ?? Buffer.alloc(0));
    if (!trusted.der.equals(given.cert.der))
      throw new KpkiError(
        `${givenFile ?? 'the CA given'} is not this cluster's CA (the node trusts ${trusted.subject}, serial ${trusted.serial})`,
      );
    return given;
  }
  if (nodeCa?.cert && nodeCa.key) return { cert: nodeCa.cert, key: nodeCa.key };
  throw new UsageError(
    `no cluster CA key on ${host.name}: give --ca-cert and --ca-key (copied from a control-plane node's /etc/kubernetes/pki)`,
  );
}

/** Asks the API server (kubelet.conf's) with the new certificate: anything but 401 means it authenticates. */
async function verifyAuthenticates(
  path: string,
  kubeconfig: Buffer,
  renewal: { certPem: string; keyPem: string },
  nodeName: string,
  log: (line: string) => void,
): Promise<number> {
  const id = parseKubeconfig(kubeconfig.toString());
  if (!id.server) return 0;
  try {
    const res = await httpGet(`${id.server.replace(/\/$/, '')}/api/v1/nodes/${nodeName}`, {
      ca: id.certificateAuthorityData,
      cert: Buffer.from(renewal.certPem),
      key: Buffer.from(renewal.keyPem),
      timeoutMs: 5000,
    });
    if (res.status === 401) {
      log(`The API server ${id.server} does not accept the new certificate (HTTP 401).`);
      return 1;
    }
    log(`Verified: ${id.server} authenticates system:node:${nodeName} with the new certificate (HTTP ${res.status}).`);
  } catch (err) {
    log(
      `Note: could not reach ${id.server} from here to verify (${describeNetworkError(err)}); the kubelet will use the new certificate (${path}).`,
    );
  }
  return 0;
}

export interface EnableRotationOptions {
  signingDuration: string;
  log: (line: string) => void;
  /** Shows the changes; undefined to go on, or the exit code to end with. */
  review: (plan: RotationPlan) => Promise<number | undefined>;
}

/** kpki kubelet enable-rotation: the changes written, the kubelet restarted, the controller-manager seen healthy. */
export async function enableKubeletRotation(host: Host, o: EnableRotationOptions): Promise<number> {
  const plan = await planRotation(host, o.signingDuration);
  if (plan.changes.length === 0) {
    o.log('Nothing to change: rotation is on and the signing duration is already set.');
    return 0;
  }
  const stop = await o.review(plan);
  if (stop !== undefined) return stop;
  return await withNodeLock(host, async () => {
    const { backup } = await applyWrites(host, plan.writes, 'kubelet enable-rotation');
    o.log(`Changed; backup ${backup.id} (undo with: kpki restore ${backup.id})`);
    if (!host.live) return 0;
    const services = await readServices(host);
    if (plan.kubeletChanged) {
      const r = await restartComponent(host, services, 'kubelet', { strategy: 'systemd', timeoutMs: 120_000, log: o.log });
      o.log(r.skipped ? `Note: ${r.skipped}` : `kubelet: ${r.detail}`);
    }
    if (plan.controllerManagerChanged) {
      // the kubelet restarts a static pod whose manifest changed: wait for it to come back healthy
      await new Promise((r) => setTimeout(r, 2000));
      const h = await waitHealthy(host, services, 'kube-controller-manager', 180_000);
      o.log(
        h.ok
          ? 'kube-controller-manager: healthy with the new flag'
          : `kube-controller-manager: not healthy: ${h.checks
              .filter((c) => !c.ok)
              .map((c) => c.detail)
              .join('; ')}`,
      );
      if (!h.ok) return 1;
    }
    return 0;
  });
}
