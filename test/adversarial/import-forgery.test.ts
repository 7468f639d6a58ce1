// The request directory of kpki csr / kpki import is often a drop box shared between teams: whoever can write it can
// edit csr.json and put files beside it. Nothing there may choose which key kpki installs or removes, which
// certificate goes where, or which file of the operator's machine it reads. Each forgery below was once installed
// with exit 0 (the first removed the cluster CA's key); each must now be refused with every byte of the node and
// of the directory as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { sharedHealthyNode } from '../helpers/lab.js';
import { kpki, removeTree, tempRoot } from '../helpers/kpki.js';
import { parseCertificate } from '../../src/pki/certificate.js';
import { kpkiBounded, refusedLeavingAsItWas } from './hostile.js';

const { fresh } = sharedHealthyNode();
const PKI = 'etc/kubernetes/pki';

interface Setup {
  root: string;
  out: string;
  dir: string;
  manifest: { requests: Record<string, unknown>[] };
}

/** A node with its requests made (the apiserver's, a pending key on the node), csr.json read for editing. */
function requested(args: string[] = []): Setup {
  const root = fresh();
  const out = tempRoot('kpki-requests-');
  const r = kpki(['--root', root, 'csr', 'apiserver', '--out', out, '--yes', ...args]);
  assert.equal(r.status, 0, r.stderr);
  const dir = join(out, 'lab-cp1');
  return { root, out, dir, manifest: JSON.parse(readFileSync(join(dir, 'csr.json'), 'utf8')) };
}

function forge(s: Setup, edit: (request: Record<string, unknown>) => void): void {
  edit(s.manifest.requests[0]);
  writeFileSync(join(s.dir, 'csr.json'), JSON.stringify(s.manifest, null, 2));
}

const subjectOf = (file: string) => {
  const cert = parseCertificate(readFileSync(file));
  return { subject: cert.subject, subjectDer: cert.subjectDer.toString('base64'), dnsNames: cert.dnsNames, ipAddresses: cert.ipAddresses };
};

const importRefused = (s: Setup, mentions: RegExp, status: number) =>
  refusedLeavingAsItWas([s.root, s.out], ['--root', s.root, 'import', '--from', s.out, '--yes'], mentions, status);

test('csr.json naming the CA key as the pending key, the CA certificate as the signed one: refused, ca.key stays', () => {
  const s = requested();
  try {
    forge(s, (r) =>
      Object.assign(r, { keyOnNode: '/etc/kubernetes/pki/ca.key', ...subjectOf(join(s.root, PKI, 'ca.crt')), extKeyUsages: [] }),
    );
    copyFileSync(join(s.root, PKI, 'ca.crt'), join(s.dir, 'apiserver.crt'));
    importRefused(s, /csr\.json \(apiserver\): its pending key is "\/etc\/kubernetes\/pki\/ca\.key", but kpki's for apiserver is/, 1);
    assert.ok(existsSync(join(s.root, PKI, 'ca.key')), 'the CA key is still there');
  } finally {
    removeTree(s.out);
  }
});

test("another leaf's key and certificate offered as the apiserver's: refused (the subject and the key are the node's, not csr.json's)", () => {
  const s = requested();
  try {
    const other = join(s.root, PKI, 'apiserver-kubelet-client');
    forge(s, (r) => Object.assign(r, { keyOnNode: `${'/etc/kubernetes/pki/apiserver-kubelet-client'}.key`, ...subjectOf(`${other}.crt`) }));
    copyFileSync(`${other}.crt`, join(s.dir, 'apiserver.crt'));
    importRefused(s, /its pending key is .*apiserver-kubelet-client\.key/, 1);
    // the same certificate with csr.json left as kpki wrote it: the node's own pending key does not match it
    const t = requested();
    try {
      copyFileSync(`${join(t.root, PKI, 'apiserver-kubelet-client')}.crt`, join(t.dir, 'apiserver.crt'));
      importRefused(t, /apiserver\.crt \(apiserver\): not signed|it is not for the pending key of apiserver/, 1);
    } finally {
      removeTree(t.out);
    }
  } finally {
    removeTree(s.out);
  }
});

test("a pending key that is another certificate's key (the CA's, copied to <key>.next) is not a pending key: refused", () => {
  const s = requested();
  try {
    // the CA team signs a request for the CA key: the certificate would match the key it names
    copyFileSync(join(s.root, PKI, 'ca.key'), join(s.root, PKI, 'apiserver.key.next'));
    const req = join(s.dir, 'apiserver.csr');
    execFileSync('openssl', ['req', '-new', '-key', join(s.root, PKI, 'ca.key'), '-subj', '/CN=kube-apiserver', '-out', req]);
    execFileSync('openssl', [
      'x509',
      '-req',
      '-in',
      req,
      '-CA',
      join(s.root, PKI, 'ca.crt'),
      '-CAkey',
      join(s.root, PKI, 'ca.key'),
      '-days',
      '30',
      '-out',
      join(s.dir, 'apiserver.crt'),
    ]);
    importRefused(s, /apiserver\.key\.next: the pending key of apiserver is the key of the ca CA/, 1);
  } finally {
    removeTree(s.out);
  }
});

test("csr.json may name no file outside the node's request directory, nor one that is not a regular file", () => {
  const s = requested();
  try {
    for (const crt of ['../../../../etc/ssl/certs/ca-certificates.crt', '/etc/hostname', 'sub/../../x.crt']) {
      forge(s, (r) => {
        r.crt = crt;
      });
      importRefused(s, /csr\.json names .*: not a file inside/, 2);
    }
    forge(s, (r) => {
      r.crt = 'apiserver.crt';
    });
    // what lies at the certificate's place is a FIFO (it would wait for a writer for ever), /dev/zero (it never
    // ends), a link out of the directory
    execFileSync('mkfifo', [join(s.dir, 'apiserver.crt')]);
    importRefused(s, /apiserver\.crt is a FIFO \(named pipe\), not a regular file/, 2);
    rmSync(join(s.dir, 'apiserver.crt'));
    execFileSync('mknod', [join(s.dir, 'apiserver.crt'), 'c', '1', '5']);
    importRefused(s, /apiserver\.crt is a character device, not a regular file/, 2);
    rmSync(join(s.dir, 'apiserver.crt'));
    symlinkSync('/etc/ssl/certs/ca-certificates.crt', join(s.dir, 'apiserver.crt'));
    importRefused(s, /apiserver\.crt leads out of .* \(to \/etc\/ssl\/certs\/ca-certificates\.crt\): not imported/, 2);
  } finally {
    removeTree(s.out);
  }
});

test('--keys-local: csr.json may not point the local key elsewhere either', () => {
  const s = requested(['--keys-local']);
  try {
    forge(s, (r) => {
      r.keyLocal = '../../../../root/.ssh/id_rsa';
    });
    importRefused(s, /csr\.json names .*id_rsa.*: not a file inside/, 2);
    forge(s, (r) => {
      r.keyLocal = 'admin.conf.key';
    });
    writeFileSync(join(s.dir, 'apiserver.crt'), readFileSync(join(s.root, PKI, 'apiserver.crt')));
    importRefused(s, /its pending key is "admin\.conf\.key", but kpki's for apiserver is "apiserver\.key"/, 1);
  } finally {
    removeTree(s.out);
  }
});

test('a certificate whose node name is a path ("system:node:../../../../x") makes kpki csr refuse, not write outside --out', () => {
  const root = fresh();
  const out = tempRoot('kpki-requests-');
  try {
    const ca = { crt: join(root, PKI, 'ca.crt'), key: join(root, PKI, 'ca.key') };
    // (the -current link's target is a node path: the file is under the root, never the machine's own)
    const pem = join(root, readlinkSync(join(root, 'var/lib/kubelet/pki/kubelet-client-current.pem')));
    const key = join(out, 'k.pem');
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
    const csr = execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/O=system:nodes/CN=system:node:..\\/..\\/..\\/..\\/x']);
    const cert = execFileSync('openssl', ['x509', '-req', '-CA', ca.crt, '-CAkey', ca.key, '-days', '30'], { input: csr });
    writeFileSync(pem, Buffer.concat([cert, readFileSync(key)]));
    rmSync(key);
    // --out four levels down: the old join(out, node name) landed at out/x, inside this test's own directory
    const deep = join(out, 'a', 'b', 'c', 'd');
    const escaped = join(deep, '../../../../x');
    refusedLeavingAsItWas(
      [root, out],
      ['--root', root, 'csr', 'all', '--out', deep, '--yes'],
      /its node name "\.\.\/\.\.\/\.\.\/\.\.\/x" .*cannot name a directory/,
      2,
    );
    assert.equal(existsSync(escaped), false, `nothing written at ${escaped}`);
    refusedLeavingAsItWas(
      [root, out],
      ['--root', root, 'csr', 'all', '--out', out, '--node-name', '..', '--yes'],
      /--node-name: the name "\.\." cannot name a directory/,
      2,
    );
    const named = kpkiBounded(['--root', root, 'csr', 'all', '--out', out, '--node-name', 'cp1', '--yes']);
    assert.equal(named.status, 0, named.stderr);
    assert.ok(existsSync(join(out, 'cp1', 'csr.json')));
  } finally {
    removeTree(out);
  }
});
