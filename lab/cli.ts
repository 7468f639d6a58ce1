// `npm run lab -- up|down|status`: the lab for a person (nodes keep running after `up` returns).
import '../src/pki/provider.js';
import { Lab } from './lab.js';

const USAGE = `usage: npm run lab -- up [--control-planes N] [--workers M] [--rsa] [--expired all|NAME[@NODE],...] | down | status
       (every command takes --base-octet B: nodes on 127.0.0.B+1..., load balancer on 127.0.0.B; default 10)

  up      start a lab cluster in the background (loopback 127.0.0.10-.N, needs root) and wait until it is healthy
  down    stop it: every process by PID, then remove its files
  status  each node, its static pods, and the health of etcd, the API, controller-manager, scheduler, kubelet`;

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

async function status(lab: Lab): Promise<number> {
  const health = await lab.health();
  let bad = 0;
  for (const h of health) {
    console.log(`${h.node}  ${h.address}  ${h.role}`);
    for (const [name, check] of Object.entries(h.checks)) {
      if (!check.ok) bad++;
      console.log(`  ${check.ok ? 'ok  ' : 'FAIL'}  ${name.padEnd(24)} ${check.detail}`);
    }
    for (const pod of h.pods)
      console.log(`        pod ${pod.name.padEnd(40)} ${pod.state}${pod.ready ? '' : ' (not ready)'}  restarts ${pod.restarts}`);
  }
  console.log(`\nendpoint ${lab.endpointUrl}   admin kubeconfig ${lab.adminKubeconfig}`);
  console.log(`ssh: ssh -F /dev/null -i ${lab.sshKey} -o UserKnownHostsFile=${lab.knownHosts} root@${lab.nodes[0].address}`);
  return bad === 0 ? 0 : 1;
}

async function main(args: string[]): Promise<number> {
  const command = args[0];
  const base = option(args, '--base-octet', 10);
  if (command === 'up') {
    const running = Lab.attach(base);
    if (running) await running.stop();
    const i = args.indexOf('--expired');
    const expired = i >= 0 ? args[i + 1].split(',') : undefined;
    const lab = await Lab.start({
      attached: false,
      baseOctet: base,
      expired,
      controlPlanes: option(args, '--control-planes', 3),
      workers: option(args, '--workers', 1),
      keyAlgorithm: args.includes('--rsa') ? 'RSA-2048' : 'ECDSA-P256',
    });
    console.log(`lab up in ${lab.dir}\n`);
    return status(lab);
  }
  if (command === 'down') {
    const lab = Lab.attach(base);
    if (!lab) {
      console.log('no lab is running');
      return 0;
    }
    await lab.stop();
    console.log('lab stopped');
    return 0;
  }
  if (command === 'status') {
    const lab = Lab.attach(base);
    if (!lab) {
      console.log('no lab is running (start one with `npm run lab -- up`)');
      return 3;
    }
    return status(lab);
  }
  console.error(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`lab: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  },
);
