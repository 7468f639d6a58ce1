// File modes and owners (CIS Kubernetes Benchmark 1.1, as kube-bench checks them): check warns about each file with
// the command that fixes it; renew never leaves private key material readable by group or others (tightening, never
// loosening, owners kept); restore puts bytes back, keys at most 0600.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashTree, kpki, removeTree } from '../helpers/kpki.js';
import { healthyControlPlane } from '../helpers/lab.js';
import { checkJson } from '../helpers/judge.js';

const roots: string[] = [];
after(() => roots.forEach(removeTree));

async function node(): Promise<string> {
  const root = await healthyControlPlane();
  roots.push(root);
  return root;
}

const mode = (path: string) => lstatSync(path).mode & 0o7777;

/** Every file under the tree that holds private key material, except kpki's own backups. */
function keyFiles(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (st.isDirectory()) {
        if (!path.endsWith('var/lib/kpki')) walk(path);
      } else if (st.isFile() && /PRIVATE KEY-----|client-key-data/.test(readFileSync(path, 'latin1'))) found.push(path);
    }
  };
  walk(root);
  return found;
}

test('check warns about a 0644 admin.conf and ca.key (exit 1), each with the chmod that fixes it; a clean tree is exit 0', async () => {
  const root = await node();
  assert.equal(kpki(['--root', root, 'check']).status, 0);
  chmodSync(join(root, 'etc/kubernetes/admin.conf'), 0o644);
  chmodSync(join(root, 'etc/kubernetes/pki/ca.key'), 0o644);
  chmodSync(join(root, 'etc/kubernetes/manifests/etcd.yaml'), 0o644);
  chmodSync(join(root, 'etc/kubernetes/pki'), 0o777);
  const { status, info } = checkJson(root);
  assert.equal(status, 1, 'file modes are a warning');
  const files = info.files!;
  const admin = files.find((f) => f.path === '/etc/kubernetes/admin.conf')!;
  assert.equal(admin.code, 'loose-mode');
  assert.match(admin.message, /mode 0644: readable by group and others; want 0600/);
  assert.equal((admin as unknown as { fix: string }).fix, `chmod 600 ${root}/etc/kubernetes/admin.conf`);
  assert.ok(files.some((f) => f.path === '/etc/kubernetes/pki/ca.key'));
  assert.ok(
    files.some((f) => f.path === '/etc/kubernetes/manifests/etcd.yaml'),
    'a manifest must be 0600',
  );
  assert.ok(files.some((f) => f.path === '/etc/kubernetes/pki' && /writable by group and others/.test(f.message)));
  assert.deepEqual(info.certificates.find((c) => c.name === 'admin.conf')!.status, ['loose mode']);
  assert.deepEqual(info.certificateAuthorities.find((c) => c.name === 'ca')!.status, ['loose mode']);
  const table = kpki(['--root', root, 'check']);
  assert.match(
    table.stdout,
    /File modes and owners \(CIS Kubernetes Benchmark 1\.1\):\n {2}\/etc\/kubernetes\/pki\/ca\.key \(holds a private key\) has mode 0644/,
  );
  assert.match(table.stdout, /fix: chmod 600 .*\/etc\/kubernetes\/pki\/ca\.key/);
});

test('a file not owned by root:root is a warning with the chown that fixes it', async () => {
  const root = await node();
  chownSync(join(root, 'etc/kubernetes/pki/apiserver.crt'), 1000, 1000);
  const { status, info } = checkJson(root);
  assert.equal(status, 1);
  const f = info.files!.find((x) => x.path === '/etc/kubernetes/pki/apiserver.crt')!;
  assert.equal(f.code, 'wrong-owner');
  assert.match(f.message, /owned by 1000:1000; want root:root/);
});

test('renew leaves no key material readable by group or others: loose modes tightened (CA keys too), never loosened, owners kept; the plan says so', async () => {
  const root = await node();
  chmodSync(join(root, 'etc/kubernetes/admin.conf'), 0o644);
  chmodSync(join(root, 'etc/kubernetes/pki/ca.key'), 0o644);
  chmodSync(join(root, 'etc/kubernetes/pki/apiserver.key'), 0o640);
  chmodSync(join(root, 'etc/kubernetes/pki/front-proxy-client.key'), 0o400);
  chownSync(join(root, 'etc/kubernetes/scheduler.conf'), 1000, 1000);
  const caKey = readFileSync(join(root, 'etc/kubernetes/pki/ca.key'));
  const dry = kpki(['--root', root, 'renew', 'all', '--dry-run']);
  assert.match(dry.stdout, /mode: \/etc\/kubernetes\/pki\/ca\.key holds a private key and is 0644: written 0600/);
  assert.match(dry.stdout, /mode: \/etc\/kubernetes\/admin\.conf holds a private key and is 0644: written 0600/);
  const r = kpki(['--root', root, 'renew', 'all', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /; 3 key file\(s\) made readable by their owner only;/);
  for (const file of keyFiles(root)) assert.equal(mode(file) & 0o077, 0, `${file} is ${mode(file).toString(8)} after renew`);
  assert.equal(mode(join(root, 'etc/kubernetes/admin.conf')), 0o600);
  assert.equal(mode(join(root, 'etc/kubernetes/pki/ca.key')), 0o600);
  assert.equal(mode(join(root, 'etc/kubernetes/pki/apiserver.key')), 0o600);
  assert.equal(mode(join(root, 'etc/kubernetes/pki/front-proxy-client.key')), 0o400, 'a mode is never loosened');
  assert.deepEqual(readFileSync(join(root, 'etc/kubernetes/pki/ca.key')), caKey, 'a CA key keeps its bytes');
  assert.equal(lstatSync(join(root, 'etc/kubernetes/scheduler.conf')).uid, 1000, 'owners are kept');
  const { info } = checkJson(root);
  assert.deepEqual(
    info.files!.map((f) => f.code),
    ['wrong-owner'],
  );

  // restore: the bytes come back; key material stays readable by its owner only
  const backups = JSON.parse(kpki(['--root', root, 'backups', '-o', 'json']).stdout);
  const restored = kpki(['--root', root, 'restore', backups[0].id]);
  assert.equal(restored.status, 0, restored.stderr);
  assert.deepEqual(readFileSync(join(root, 'etc/kubernetes/pki/ca.key')), caKey);
  for (const file of keyFiles(root)) assert.equal(mode(file) & 0o077, 0, `${file} is ${mode(file).toString(8)} after restore`);
  const again = hashTree(root);
  assert.equal(kpki(['--root', root, 'restore', backups[0].id]).status, 0);
  assert.equal(hashTree(root), again, 'a second restore of the same backup changes nothing');
});
