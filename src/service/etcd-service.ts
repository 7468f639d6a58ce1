// etcd as a systemd service (Kubespray's and KubeKey's default, `etcd_deployment_type: host`): etcd.service reads its
// whole configuration from an EnvironmentFile (/etc/etcd.env: ETCD_TRUSTED_CA_FILE, ETCD_CERT_FILE, ...), the same
// settings a static pod gives as flags. Read here into the flags' names, so that health, the served certificates and
// the etcd gates treat both alike; and the client certificate to ask etcd with (etcdctl's, from the same file).
import { posix } from 'node:path';
import type { Host } from '../hosts/host.js';
import { parseEnvironmentFile } from '../util/env-file.js';
import { unitFile } from './strategies.js';
import type { StaticPod } from '../kubeadm/manifests.js';

const DEFAULT_ENV_FILE = '/etc/etcd.env';

export interface EtcdService {
  unit: string;
  envFile: string;
  /** ETCD_TRUSTED_CA_FILE → trusted-ca-file, as etcd maps its environment to its flags. */
  flags: Map<string, string>;
  /** The file's other settings (etcdctl's ETCDCTL_*). */
  env: Map<string, string>;
}

/** The etcd.service unit and its environment file, when etcd runs that way here. */
export async function readEtcdService(host: Host): Promise<EtcdService | undefined> {
  const unitPath = await unitFile(host, 'etcd');
  if (!unitPath) return undefined;
  const unit = (await host.readFile(unitPath)).toString();
  // (a leading "-" only makes a missing file no error)
  const envFile = /^\s*EnvironmentFile\s*=\s*-?(\S+)/m.exec(unit)?.[1] ?? DEFAULT_ENV_FILE;
  if (!(await host.stat(envFile))) return undefined;
  const env = parseEnvironmentFile((await host.readFile(envFile)).toString());
  const flags = new Map<string, string>();
  for (const [name, value] of env) if (name.startsWith('ETCD_')) flags.set(name.slice(5).toLowerCase().replace(/_/g, '-'), value);
  return { unit: 'etcd', envFile, flags, env };
}

export interface EtcdFlagsSource {
  pods: Map<string, StaticPod>;
  etcdService?: EtcdService;
}

/** The URL etcd is asked at: its first advertised (else listened) client URL. */
export const etcdClientUrl = (flags: Map<string, string>) =>
  (flags.get('advertise-client-urls') ?? flags.get('listen-client-urls') ?? 'https://127.0.0.1:2379').split(',')[0].replace(/\/$/, '');

/** etcd's settings on this node, from its static pod or its service; none when etcd does not run here. */
export function etcdFlags(services: EtcdFlagsSource): Map<string, string> | undefined {
  return services.pods.get('etcd')?.flags ?? services.etcdService?.flags;
}

/**
 * The files of a client of this node's etcd: kubeadm's healthcheck-client beside the CA; for a service, etcdctl's
 * certificate from the environment file, else Kubespray's admin-<host>.pem beside its member-<host>.pem.
 */
export async function etcdClientFiles(
  host: Host,
  services: EtcdFlagsSource,
): Promise<{ ca: string; cert: string; key: string } | undefined> {
  const flags = etcdFlags(services);
  if (!flags) return undefined;
  const ca = flags.get('trusted-ca-file') ?? '/etc/kubernetes/pki/etcd/ca.crt';
  const service = services.pods.has('etcd') ? undefined : services.etcdService;
  if (!service) {
    const dir = posix.dirname(ca);
    return { ca, cert: `${dir}/healthcheck-client.crt`, key: `${dir}/healthcheck-client.key` };
  }
  const env = (...names: string[]) => names.map((n) => service.env.get(n)).find(Boolean);
  const memberCert = flags.get('cert-file');
  const admin = memberCert && /^member-(.+)\.pem$/.exec(posix.basename(memberCert));
  const adminPath = admin ? posix.join(posix.dirname(memberCert!), `admin-${admin[1]}.pem`) : undefined;
  const adminCert = adminPath && (await host.stat(adminPath)) ? adminPath : undefined;
  const cert = env('ETCDCTL_CERT', 'ETCDCTL_CERT_FILE') ?? adminCert ?? memberCert;
  const key =
    env('ETCDCTL_KEY', 'ETCDCTL_KEY_FILE') ??
    (adminCert && cert === adminCert ? adminCert.replace(/\.pem$/, '-key.pem') : flags.get('key-file'));
  if (!cert || !key) return undefined;
  return { ca: env('ETCDCTL_CACERT', 'ETCDCTL_CA_FILE') ?? ca, cert, key };
}
