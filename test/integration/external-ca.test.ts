// External CA mode, round trip with a CA run by openssl: kpki csr leaves new keys on the node and writes requests
// with the current subject and SANs; openssl signs them as a CA team would (its own choice of extensions); kpki import
// checks each one and installs them all, or refuses them all with the tree untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashTree, kpki } from '../helpers/kpki.js';
import { sharedExpiredNode } from '../helpers/lab.js';
import { checkJson } from '../helpers/judge.js';
import { opensslSelfSignedCa, signRequest } from '../helpers/openssl.js';

const { fresh } = sharedExpiredNode();
const PKI = 'etc/kubernetes/pki';

interface Request {
  name: string;
  csr: string;
  crt: string;
  keyOnNode: string;
  keyLocal?: string;
  ca: string;
  extKeyUsages: string[];
  dnsNames: string[];
}

/** A node whose cluster CA key lives with the CA team (here: a directory beside the node), not on the node. */
function externalCaNode(): { root: string; team: string; out: string; cleanup: () => void } {
  const root = fresh();
  const team = mkdtempSync(join(tmpdir(), 'kpki-ca-team-'));
  renameSync(join(root, PKI, 'ca.key'), join(team, 'ca.key'));
  return { root, team, out: join(team, 'requests'), cleanup: () => rmSync(team, { recursive: true, force: true }) };
}

const openssl = (args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** The CA team signs a request with openssl, choosing the usages itself (and, for the tests of refusals, worse). */
function sign(n: ReturnType<typeof externalCaNode>, r: Request, o: { ca?: [string, string]; extra?: string; csr?: string } = {}): void {
  const cas: Record<string, [string, string]> = {
    ca: [join(n.root, PKI, 'ca.crt'), join(n.team, 'ca.key')],
    'etcd-ca': [join(n.root, PKI, 'etcd/ca.crt'), join(n.root, PKI, 'etcd/ca.key')],
    'front-proxy-ca': [join(n.root, PKI, 'front-proxy-ca.crt'), join(n.root, PKI, 'front-proxy-ca.key')],
  };
  const [caCrt, caKey] = o.ca ?? cas[r.ca];
  const dir = join(n.out, 'lab-cp1');
  signRequest({ csr: o.csr ?? join(dir, r.csr), caCrt, caKey, extKeyUsages: r.extKeyUsages, out: join(dir, r.crt), extra: o.extra });
}

const requestsOf = (n: ReturnType<typeof externalCaNode>) =>
  JSON.parse(readFileSync(join(n.out, 'lab-cp1', 'csr.json'), 'utf8')).requests as Request[];

test('external CA: kpki csr, openssl signs, kpki import installs every certificate; openssl verifies each against its CA', () => {
  const n = externalCaNode();
  try {
    const before = hashTree(n.root);
    assert.equal(kpki(['--root', n.root, 'csr', 'all', '--out', n.out, '--dry-run']).status, 0);
    assert.equal(hashTree(n.root), before, 'a dry run writes nothing');
    assert.equal(existsSync(n.out), false);
    const made = kpki(['--root', n.root, 'csr', 'all', '--out', n.out, '--yes']);
    assert.equal(made.status, 0, made.stderr);
    const requests = requestsOf(n);
    assert.deepEqual(requests.map((r) => r.name).sort(), [
      'admin.conf',
      'apiserver',
      'apiserver-etcd-client',
      'apiserver-kubelet-client',
      'controller-manager.conf',
      'etcd-healthcheck-client',
      'etcd-peer',
      'etcd-server',
      'front-proxy-client',
      'scheduler.conf',
      'super-admin.conf',
    ]);
    for (const r of requests) {
      const csr = join(n.out, 'lab-cp1', r.csr);
      const verified = spawnSync('openssl', ['req', '-in', csr, '-noout', '-verify'], { encoding: 'utf8' });
      assert.match(verified.stdout + verified.stderr, /verify OK/, `${r.name}: the request is signed by its key`);
      const key = join(n.root, r.keyOnNode);
      assert.equal(statSync(key).mode & 0o777, 0o600, `${r.keyOnNode} is readable by its owner only`);
      // the request belongs to the key left on the node, and asks for the old certificate's subject
      assert.equal(openssl(['req', '-in', csr, '-noout', '-pubkey']), openssl(['pkey', '-in', key, '-pubout']), r.name);
    }
    const api = requests.find((r) => r.name === 'apiserver')!;
    const asked = openssl(['req', '-in', join(n.out, 'lab-cp1', api.csr), '-noout', '-subject', '-text']);
    assert.match(asked, /subject=CN ?= ?kube-apiserver/);
    assert.match(asked, /DNS:lab-cp1, DNS:kubernetes/);
    // check says what waits, as a warning
    const waiting = checkJson(n.root);
    assert.equal((waiting.info as unknown as { pendingRequests: unknown[] }).pendingRequests.length, 11);
    assert.match(kpki(['--root', n.root, 'check']).stdout, /Waiting for the external CA \(kpki csr\): admin\.conf/);

    for (const r of requests) sign(n, r);
    const signed = hashTree(n.root);
    assert.equal(kpki(['--root', n.root, 'import', '--from', n.out, '--dry-run']).status, 0);
    assert.equal(hashTree(n.root), signed, 'a dry run of the import writes nothing');
    const imported = kpki(['--root', n.root, 'import', '--from', n.out, '--yes']);
    assert.equal(imported.status, 0, imported.stdout + imported.stderr);
    assert.match(imported.stdout, /Installed 11 certificate\(s\); backup/);
    for (const [cert, ca] of [
      ['apiserver.crt', 'ca.crt'],
      ['etcd/server.crt', 'etcd/ca.crt'],
      ['etcd/peer.crt', 'etcd/ca.crt'],
      ['front-proxy-client.crt', 'front-proxy-ca.crt'],
    ]) {
      assert.match(openssl(['verify', '-CAfile', join(n.root, PKI, ca), join(n.root, PKI, cert)]), /: OK/, cert);
      assert.equal(
        readFileSync(join(n.root, PKI, cert), 'utf8'),
        readFileSync(join(n.out, 'lab-cp1', cert), 'utf8'),
        `${cert} is the CA's certificate`,
      );
    }
    for (const r of requests) assert.equal(existsSync(join(n.root, r.keyOnNode)), false, `${r.keyOnNode} was moved into place`);
    const after = checkJson(n.root).info;
    for (const item of after.certificates.filter((c) => requests.some((r) => r.name === c.name))) {
      assert.deepEqual(
        item.problems.filter((p) => p.code !== 'loose-mode'),
        [],
        `${item.name}: every key matches, every chain holds`,
      );
    }
  } finally {
    n.cleanup();
  }
});

test('external CA with --keys-local: the new keys stay beside the requests (0600, as kubeadm certs generate-csr leaves them), the node is untouched until import installs key and certificate together', () => {
  const n = externalCaNode();
  try {
    const before = hashTree(n.root);
    const made = kpki(['--root', n.root, 'csr', 'apiserver', 'etcd-server', 'admin.conf', '--out', n.out, '--keys-local', '--yes']);
    assert.equal(made.status, 0, made.stdout + made.stderr);
    assert.equal(hashTree(n.root), before, 'nothing was written on the node');
    const requests = requestsOf(n);
    assert.deepEqual(requests.map((r) => [r.name, r.keyLocal, r.keyOnNode]).sort(), [
      ['admin.conf', 'admin.conf.key', undefined],
      ['apiserver', 'apiserver.key', undefined],
      ['etcd-server', 'etcd/server.key', undefined],
    ]);
    const dir = join(n.out, 'lab-cp1');
    assert.equal(statSync(dir).mode & 0o777, 0o700, "the directory holding private keys is its owner's only");
    for (const r of requests) {
      const key = join(dir, r.keyLocal!);
      assert.equal(statSync(key).mode & 0o777, 0o600, `${r.keyLocal} is readable by its owner only`);
      assert.equal(openssl(['req', '-in', join(dir, r.csr), '-noout', '-pubkey']), openssl(['pkey', '-in', key, '-pubout']), r.name);
    }
    assert.equal(
      (checkJson(n.root).info as unknown as { pendingRequests?: unknown[] }).pendingRequests?.length ?? 0,
      0,
      'no key waits on the node',
    );
    for (const r of requests) sign(n, r);

    const apiKey = requests.find((r) => r.name === 'apiserver')!.keyLocal!;
    renameSync(join(dir, apiKey), join(dir, `${apiKey}.away`));
    const missing = kpki(['--root', n.root, 'import', '--from', n.out, '--yes']);
    assert.equal(missing.status, 1, missing.stdout + missing.stderr);
    assert.match(missing.stderr, /apiserver\.key: the pending key of apiserver is missing: nothing was imported/);
    assert.equal(hashTree(n.root), before, 'a refused import leaves every byte');
    renameSync(join(dir, `${apiKey}.away`), join(dir, apiKey));

    const imported = kpki(['--root', n.root, 'import', '--from', n.out, '--yes']);
    assert.equal(imported.status, 0, imported.stdout + imported.stderr);
    assert.match(openssl(['verify', '-CAfile', join(n.root, PKI, 'ca.crt'), join(n.root, PKI, 'apiserver.crt')]), /: OK/);
    assert.match(openssl(['verify', '-CAfile', join(n.root, PKI, 'etcd/ca.crt'), join(n.root, PKI, 'etcd/server.crt')]), /: OK/);
    assert.equal(
      readFileSync(join(n.root, PKI, 'apiserver.key'), 'utf8'),
      readFileSync(join(dir, apiKey), 'utf8'),
      'the local key went into place',
    );
    assert.equal(statSync(join(n.root, PKI, 'apiserver.key')).mode & 0o777, 0o600);
    const admin = checkJson(n.root).info.certificates.find((c) => c.name === 'admin.conf')!;
    assert.deepEqual(
      admin.problems.filter((p) => p.code !== 'loose-mode'),
      [],
      'admin.conf embeds the key and the certificate',
    );
  } finally {
    n.cleanup();
  }
});

test('external CA: a certificate from another CA, with other names, for another key, or missing: the whole import is refused, the tree untouched', () => {
  const n = externalCaNode();
  try {
    assert.equal(kpki(['--root', n.root, 'csr', 'apiserver', 'front-proxy-client', '--out', n.out, '--yes']).status, 0);
    const [api, proxy] = ['apiserver', 'front-proxy-client'].map((name) => requestsOf(n).find((r) => r.name === name)!);
    const other = mkdtempSync(join(tmpdir(), 'kpki-other-ca-'));
    try {
      opensslSelfSignedCa('kubernetes', join(other, 'ca.key'), join(other, 'ca.crt'));
      openssl([
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        '/CN=kube-apiserver',
        '-keyout',
        join(other, 'x.key'),
        '-out',
        join(other, 'x.csr'),
      ]);
      const cases: [string, () => void, RegExp][] = [
        [
          'another CA (same name, other key)',
          () => sign(n, api, { ca: [join(other, 'ca.crt'), join(other, 'ca.key')] }),
          /apiserver\.crt \(apiserver\): not signed by the node's ca CA/,
        ],
        [
          'other names',
          () => sign(n, api, { extra: 'subjectAltName=DNS:evil.example\n' }),
          /apiserver\.crt \(apiserver\): its names \(evil\.example\) are not apiserver's lab-cp1, kubernetes/,
        ],
        ['another key', () => sign(n, api, { csr: join(other, 'x.csr') }), /apiserver\.crt \(apiserver\): it is not for the pending key/],
      ];
      sign(n, proxy); // a good one beside the bad: it is not installed either
      for (const [what, make, message] of cases) {
        make();
        const before = hashTree(n.root);
        const r = kpki(['--root', n.root, 'import', '--from', n.out, '--yes']);
        assert.equal(r.status, 1, `${what}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, message, what);
        assert.match(r.stderr, /nothing was imported/);
        assert.equal(hashTree(n.root), before, `${what}: every byte as it was`);
      }
      rmSync(join(n.out, 'lab-cp1', api.crt));
      const missing = kpki(['--root', n.root, 'import', '--from', n.out, '--yes']);
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /apiserver\.crt: the signed certificate for apiserver is missing/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  } finally {
    n.cleanup();
  }
});
