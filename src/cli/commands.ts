// The command index: what `kpki --help` lists, and where each command lives. A run loads only the module of the
// command it runs (a check never loads the renewal, SSH, metrics or lab code).
import type { Command } from 'commander';

export interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<Command>;
}

export const COMMANDS: CommandEntry[] = [
  {
    name: 'check',
    summary: 'show every certificate and kubeconfig on the node with expiry and problems',
    load: async () => (await import('./check.js')).checkCommand(),
  },
  {
    name: 'renew',
    summary: 'renew certificates and kubeconfigs with the cluster CA, as kubeadm does, with backup and journal',
    load: async () => (await import('./renew.js')).renewCommand(),
  },
  {
    name: 'san',
    summary: 'add or remove names (SANs) of the apiserver or etcd certificates, re-issued and recorded for kubeadm',
    load: async () => (await import('./san.js')).sanCommand(),
  },
  {
    name: 'csr',
    summary: 'external CA: new keys stay on the node, requests with the current subject and SANs go to the CA',
    load: async () => (await import('./external-ca.js')).csrCommand(),
  },
  {
    name: 'import',
    summary: 'external CA: install the signed certificates, each checked against the request and the node CA first',
    load: async () => (await import('./external-ca.js')).importCommand(),
  },
  {
    name: 'ca',
    summary: 'CA rotation: ca plan shows what trusts a CA and what rotating it would change, per node and in the API',
    load: async () => (await import('./ca.js')).caCommand(),
  },
  {
    name: 'backups',
    summary: 'list the backups kpki took on this node (-i: on every node), prune old ones',
    load: async () => (await import('./backups.js')).backupsCommand(),
  },
  {
    name: 'restore',
    summary: 'put back every file of a backup, byte-identical, as one journaled transaction',
    load: async () => (await import('./backups.js')).restoreCommand(),
  },
  {
    name: 'health',
    summary: "health of this node's etcd, kube-apiserver, controller-manager, scheduler and kubelet, with reasons (-i: every node)",
    load: async () => (await import('./health.js')).healthCommand(),
  },
  {
    name: 'restart',
    summary:
      'restart etcd, kube-apiserver, kube-controller-manager, kube-scheduler (default: those on this node) or the kubelet, in order, waiting for health',
    load: async () => (await import('./restart.js')).restartCommand(),
  },
  {
    name: 'kubeconfig',
    summary: "users' kubeconfigs: update one from admin.conf, or issue a new one",
    load: async () => (await import('./kubeconfig.js')).kubeconfigCommand(),
  },
  {
    name: 'kubelet',
    summary: "the kubelet's client and serving certificates",
    load: async () => (await import('./kubelet.js')).kubeletCommand(),
  },
  {
    name: 'recover',
    summary: "bring back a node whose certificates expired: renew, restart in order, verify, update root's kubeconfig",
    load: async () => (await import('./recover.js')).recoverCommand(),
  },
  { name: 'token', summary: 'bootstrap tokens for kubeadm join', load: async () => (await import('./token.js')).tokenCommand() },
  { name: 'inventory', summary: 'kpki inventories', load: async () => (await import('./inventory.js')).inventoryCommand() },
  {
    name: 'exporter',
    summary:
      'serve Prometheus metrics (/metrics, x509-certificate-exporter compatible) and a status page (/) for this node or an inventory',
    load: async () => (await import('./exporter.js')).exporterCommand(),
  },
  {
    name: 'timer',
    summary: 'automatic renewal by a systemd timer, serialized across the control plane by a lock in etcd',
    load: async () => (await import('./timer.js')).timerCommand(),
  },
  {
    name: 'install',
    summary: 'install this standalone kpki as DIR/kpki and DIR/kubectl-kpki (a kubectl plugin)',
    load: async () => (await import('./install.js')).installCommand(),
  },
  {
    name: 'agent',
    summary: 'in-cluster renewal agent: what the timer does, every --interval, serialized by a coordination.k8s.io Lease',
    load: async () => (await import('./agent.js')).agentCommand(),
  },
  {
    name: 'demo',
    summary: 'build an expired kubeadm control-plane node in a temp dir, check it, renew it, verify it',
    load: async () => (await import('./demo.js')).demoCommand(),
  },
];

/** Global options that take a value: what follows them is not the command's name. */
const WITH_VALUE = new Set([
  '--root',
  '--cert-dir',
  '--kubeconfig-dir',
  '--config',
  '-i',
  '--inventory',
  '--nodes',
  '--concurrency',
  '--known-hosts',
]);

/** The command an argv names (the first word that is neither a global option nor its value), if any. */
export function commandOf(argv: string[]): string | undefined {
  for (let i = 2; i < argv.length; i++) {
    const word = argv[i];
    if (word === '--') return argv[i + 1];
    if (!word.startsWith('-')) return word;
    if (WITH_VALUE.has(word)) i++;
  }
  return undefined;
}
