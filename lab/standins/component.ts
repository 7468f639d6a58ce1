// kube-controller-manager / kube-scheduler stand-in. Like the real ones it loads --kubeconfig once at start, keeps
// calling the API server with those credentials, and serves /healthz over HTTPS (a self-signed certificate made in
// memory, as they do without --tls-cert-file) on --bind-address:--secure-port. /healthz is ok only while the API
// accepts the credentials, so an expired controller-manager.conf shows up as an unhealthy component after its
// restart, as in a real cluster. What it does not do: no controllers, no scheduling, no leader election lease.
import https from 'node:https';
import { certificateToPem } from '../../src/pki/certificate.js';
import { selfSignCa } from '../../src/pki/issue.js';
import { generatePrivateKey, privateKeyToPem } from '../../src/pki/keys.js';
import { Flags, log } from './flags.js';
import { describeFailure, kubeRequest, loadKubeconfig } from './kube-client.js';
import { rootCaPublisher } from './root-ca-publisher.js';
import { signerProblem } from './csr-signer.js';

const DEFAULT_PORTS: Record<string, number> = { 'kube-controller-manager': 10257, 'kube-scheduler': 10259 };
const FRESH_MS = 10_000;

export async function runComponent(name: string, argv: string[]): Promise<void> {
  const flags = new Flags(argv);
  const address = flags.get('bind-address', '0.0.0.0')!;
  const port = Number(flags.get('secure-port', String(DEFAULT_PORTS[name])));
  const kubeconfig = flags.require('kubeconfig');
  const creds = loadKubeconfig(kubeconfig); // once, at start: renewed files need a restart, as for the real component
  const signing = name === 'kube-controller-manager' ? flags.get('cluster-signing-cert-file') : undefined;
  const signingKey = flags.get('cluster-signing-key-file');
  const signerAtStart = signing && signingKey ? signerProblem(signing, signingKey) : undefined;
  if (signerAtStart) {
    // the real controller-manager exits: "failed to start controller csrsigning"
    log(name, `error starting controllers: failed to start the "csrsigning" controller: ${signerAtStart}`);
    process.exit(1);
  }

  let lastSuccess = 0;
  let lastError = 'no call to the API server yet';
  let calls = 0;
  const call = async () => {
    try {
      const res = await kubeRequest(creds, 'GET', '/api/v1/nodes', { timeoutMs: 2000 });
      if (res.status === 200) {
        lastSuccess = Date.now();
        lastError = '';
        // (tests wait on these: the credentials it loaded at start still work after their file changed)
        log(name, `API call #${++calls} with the credentials loaded at start: ok`);
      } else lastError = describeFailure(res);
    } catch (err) {
      lastError = describeFailure(err as Error);
    }
    if (lastError) log(name, `API call with ${kubeconfig} failed: ${lastError}`);
  };
  // the controller-manager publishes --root-ca-file (read once, here) as kube-root-ca.crt in every namespace
  const rootCaFile = name === 'kube-controller-manager' ? flags.get('root-ca-file') : undefined;
  let publishRootCa = rootCaFile ? rootCaPublisher(creds, rootCaFile) : undefined;
  const publish = async () => {
    try {
      if (publishRootCa && (await publishRootCa())) publishRootCa = undefined;
    } catch (err) {
      log(name, `kube-root-ca.crt not published yet: ${(err as Error).message}`);
    }
  };
  await call();
  await publish();
  let signerNow: string | undefined;
  const timer = setInterval(() => {
    call();
    publish();
    // the signer watches its files: one that turns into a bundle stops the signing until it is one certificate again
    const problem = signing && signingKey ? signerProblem(signing, signingKey) : undefined;
    if (problem && problem !== signerNow) log(name, `csrsigning: ${problem}`);
    signerNow = problem;
  }, 2000);

  const key = await generatePrivateKey('ECDSA-P256');
  const now = Date.now();
  const cert = await selfSignCa({
    commonName: `${address}@${Math.floor(now / 1000)}`,
    key,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 365 * 86_400_000),
  });
  const server = https.createServer({ cert: certificateToPem(cert), key: privateKeyToPem(key) }, (req, res) => {
    if (req.url?.startsWith('/healthz') || req.url?.startsWith('/livez') || req.url?.startsWith('/readyz')) {
      const ok = Date.now() - lastSuccess < FRESH_MS;
      res.writeHead(ok ? 200 : 500, { 'content-type': 'text/plain' });
      res.end(ok ? 'ok' : `[-]api-credentials failed: ${lastError}\nhealthz check failed\n`);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
  log(name, `serving /healthz on https://${address}:${port}, API ${creds.server}`);
  const stop = () => {
    clearInterval(timer);
    server.close();
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 100).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
