// --root DIR repairs a node disk mounted elsewhere, where absolute symlinks are common (/etc/kubernetes/pki -> /data/pki).
// Every path component is resolved inside the root, as chroot would, for reads and writes alike: a symlinked directory
// at any level leads to the node's files, never to this machine's; a link that climbs out of the root is refused with
// its path. The machine's side (a decoy at the same absolute paths) must be byte-identical afterwards.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, renameSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { hashTree, kpki, removeTree, tempRoot } from '../helpers/kpki.js';
import { copyTree, sharedExpiredNode } from '../helpers/lab.js';
import { checkJson, judgeNode } from '../helpers/judge.js';

const { fresh, template } = sharedExpiredNode();
const dirs: string[] = [];
after(() => dirs.forEach(removeTree));

/** Moves a node directory elsewhere inside the root and leaves a symlink (absolute: a node path; or relative). */
function relink(root: string, nodePath: string, newNodePath: string, kind: 'absolute' | 'relative'): void {
  mkdirSync(dirname(join(root, newNodePath)), { recursive: true });
  renameSync(join(root, nodePath), join(root, newNodePath));
  const target = kind === 'absolute' ? newNodePath : relative(dirname(join(root, nodePath)), join(root, newNodePath));
  symlinkSync(target, join(root, nodePath));
}

test('symlinked directories at every level (absolute and relative) resolve inside the root: check and renew see and write the node, never this machine', () => {
  const root = fresh();
  // a decoy on this machine at the very paths the node's absolute links name: kpki must not read or write it
  const decoy = tempRoot('kpki-host-side-');
  dirs.push(decoy);
  cpSync(join(template(), 'etc/kubernetes/pki'), join(decoy, 'pki'), { recursive: true });
  const decoyHash = hashTree(decoy);
  relink(root, '/etc/kubernetes/pki', `${decoy}/pki`, 'absolute'); // the same absolute path exists on this machine
  relink(root, '/etc', '/node-etc', 'absolute'); // the top level: /node-etc exists only on the node's disk
  relink(root, '/var/lib/kubelet', '/srv/kubelet', 'relative');
  const before = checkJson(root);
  assert.equal(before.status, 2, before.stderr);
  const names = before.info.certificates.filter((c) => !c.missing).map((c) => c.name);
  assert.ok(names.includes('apiserver') && names.includes('kubelet-serving') && names.includes('etcd-peer'), names.join(','));
  const r = kpki(['--root', root, 'renew', 'all', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  const afterRenew = checkJson(root);
  assert.equal(afterRenew.status, 0, JSON.stringify(afterRenew.info.certificates.map((c) => [c.name, c.status])));
  assert.ok(judgeNode(root, afterRenew.info, 'relinked') >= 12);
  assert.equal(hashTree(decoy), decoyHash, "this machine's files at the node's absolute paths changed");
});

test('a link that climbs out of the root is refused with its path; nothing is read or written outside it', () => {
  const root = copyTree(template());
  dirs.push(root);
  const decoy = tempRoot('kpki-host-side-');
  dirs.push(decoy);
  cpSync(join(root, 'etc/kubernetes/manifests'), join(decoy, 'manifests'), { recursive: true });
  cpSync(join(root, 'etc/kubernetes/pki'), join(decoy, 'pki'), { recursive: true });
  const decoyHash = hashTree(decoy);
  // ../../../ from DIR/etc/kubernetes leaves DIR: the relative target names the decoy next to the root
  removeTree(join(root, 'etc/kubernetes/pki'));
  symlinkSync(relative(join(root, 'etc/kubernetes'), join(decoy, 'pki')), join(root, 'etc/kubernetes/pki'));
  const treeHash = hashTree(root);
  const check = kpki(['--root', root, 'check']);
  assert.equal(check.status, 3, check.stdout + check.stderr);
  assert.match(check.stderr, new RegExp(`${root}/etc/kubernetes/pki/\\S+ leads out of the node's root ${root}`));
  const renew = kpki(['--root', root, 'renew', 'all', '--yes']);
  assert.notEqual(renew.status, 0, renew.stdout);
  assert.match(renew.stderr, /leads out of the node's root/);
  assert.equal(hashTree(decoy), decoyHash, 'the decoy outside the root changed');
  assert.equal(hashTree(root), treeHash, 'the tree changed');
});
