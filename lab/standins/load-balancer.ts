// The control-plane endpoint of the lab: a TCP (layer 4) load balancer in front of the API servers, like haproxy with
// `option httpchk GET /readyz` and `option redispatch`. TLS passes through, so client certificates reach the API
// servers. A backend is used only while its /readyz answers 200; a failed connect is retried on the next backend.
import net from 'node:net';
import { Flags, hostPort, log } from './flags.js';
import { runHttpProbe } from './probes.js';

export async function runLoadBalancer(argv: string[]): Promise<void> {
  const flags = new Flags(argv);
  const listen = hostPort(flags.require('listen'), 6443);
  const backends = flags
    .require('backends')
    .split(',')
    .map((b) => ({ ...hostPort(b, 6443), healthy: true }));
  let next = 0;

  const check = () =>
    backends.forEach(async (b) => {
      const { ok } = await runHttpProbe({ host: b.host, port: b.port, path: '/readyz', scheme: 'HTTPS' }, 1000);
      if (ok !== b.healthy) log('load-balancer', `${b.host}:${b.port} is now ${ok ? 'up' : 'down'}`);
      b.healthy = ok;
    });
  check();
  const timer = setInterval(check, 1000);

  const server = net.createServer((client) => {
    client.pause();
    const order = backends.map((_, i) => backends[(next + i) % backends.length]);
    next = (next + 1) % backends.length;
    const candidates = [...order.filter((b) => b.healthy), ...order.filter((b) => !b.healthy)];
    const attempt = (i: number) => {
      if (i >= candidates.length || client.destroyed) return client.destroy();
      const b = candidates[i];
      const upstream = net.connect({ host: b.host, port: b.port, timeout: 1000 });
      upstream.once('timeout', () => upstream.destroy(new Error('connect timeout')));
      upstream.once('error', () => attempt(i + 1));
      upstream.once('connect', () => {
        upstream.setTimeout(0);
        upstream.removeAllListeners('error');
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        client.pipe(upstream).pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(listen.port, listen.host, () => resolve()));
  log('load-balancer', `listening on ${listen.host}:${listen.port} for ${backends.map((b) => `${b.host}:${b.port}`).join(', ')}`);
  const stop = () => {
    clearInterval(timer);
    server.close();
    setTimeout(() => process.exit(0), 100).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (flags.get('exit-with-stdin') === 'true') {
    process.stdin.on('end', stop).on('error', stop).resume();
  }
}
