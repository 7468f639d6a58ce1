// Entry point of the lab's stand-in processes (bundled to dist/lab-standins.js): `<component> flags...`.
import '../../src/pki/provider.js';
import { runApiServer } from './apiserver.js';
import { runComponent } from './component.js';
import { runLoadBalancer } from './load-balancer.js';
import { runNode } from './node.js';

const [component, ...argv] = process.argv.slice(2);
const runners: Record<string, () => Promise<void>> = {
  node: () => runNode(argv),
  'kube-apiserver': () => runApiServer(argv),
  'kube-controller-manager': () => runComponent('kube-controller-manager', argv),
  'kube-scheduler': () => runComponent('kube-scheduler', argv),
  'load-balancer': () => runLoadBalancer(argv),
};
const run = runners[component];
if (!run) {
  process.stderr.write(`unknown lab component "${component}" (expected ${Object.keys(runners).join(', ')})\n`);
  process.exit(2);
}
run().catch((err) => {
  process.stderr.write(`${component}: ${err instanceof Error ? err.stack : err}\n`);
  process.exit(1);
});
