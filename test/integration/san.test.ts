// kpki san on one node: the certificate re-issued with the changed names and nothing else changed (openssl judges),
// the names recorded in the kubeadm config (comments kept), a name still in use not removed without --force, bad
// input refused with every byte as it was; a later renewal keeps the names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashTree, kpki } from '../helpers/kpki.js';
import { sharedHealthyNode } from '../helpers/lab.js';
import { certFacts, publicKeyOfCert, publicKeyOfKey, verifies } from '../helpers/openssl.js';

const { fresh } = sharedHealthyNode();
const PKI = 'etc/kubernetes/pki';
const CONFIG = `# written by the cluster's installer
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
controlPlaneEndpoint: 127.0.0.11:6443 # the load balancer
apiServer:
  certSANs:
  - old.example.com
etcd:
  local:
    dataDir: /var/lib/etcd
`;

function nodeWithConfig(): string {
  const root = fresh();
  writeFileSync(join(root, 'etc/kubernetes/kubeadm-config.yaml'), CONFIG);
  return root;
}

const sansOf = (root: string, cert: string) => certFacts(join(root, PKI, cert)).sans;

test('san add: the apiserver certificate gains the names, keeps subject, usages and CA; kubeadm-config.yaml records them; restore undoes it', () => {
  const root = nodeWithConfig();
  const before = hashTree(root);
  const oldFacts = certFacts(join(root, PKI, 'apiserver.crt'));
  const dry = kpki(['--root', root, 'san', 'add', 'DNS:lb.example.com', 'IP:127.0.0.50', '--dry-run']);
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /names after: .*DNS:lb\.example\.com.*IP:127\.0\.0\.50/);
  assert.equal(hashTree(root), before, 'a dry run changes nothing');
  const others = hashTree(join(root, PKI, 'etcd'));
  const r = kpki(['--root', root, 'san', 'add', 'DNS:lb.example.com', 'IP:127.0.0.50', '--yes']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const facts = certFacts(join(root, PKI, 'apiserver.crt'));
  assert.equal(facts.sans, `${oldFacts.sans.replace(/, IP Address:/, ', DNS:lb.example.com, IP Address:')}, IP Address:127.0.0.50`);
  assert.equal(facts.subject, oldFacts.subject);
  assert.equal(facts.eku, oldFacts.eku);
  assert.ok(verifies(join(root, PKI, 'ca.crt'), join(root, PKI, 'apiserver.crt')).ok);
  assert.equal(publicKeyOfCert(join(root, PKI, 'apiserver.crt')), publicKeyOfKey(join(root, PKI, 'apiserver.key')));
  assert.equal(hashTree(join(root, PKI, 'etcd')), others, 'no other certificate changes');
  const config = readFileSync(join(root, 'etc/kubernetes/kubeadm-config.yaml'), 'utf8');
  assert.match(config, /^# written by the cluster's installer/, 'comments stay');
  assert.match(config, /controlPlaneEndpoint: 127\.0\.0\.11:6443 # the load balancer/);
  assert.match(config, /certSANs:\n\s+- old\.example\.com\n\s+- lb\.example\.com\n\s+- 127\.0\.0\.50\n/);
  // a renewal later copies the names from the certificate: they stay
  assert.equal(kpki(['--root', root, 'renew', 'apiserver', '--yes']).status, 0);
  assert.equal(sansOf(root, 'apiserver.crt'), facts.sans);
  // the backup of san add puts back every byte
  const backups = JSON.parse(kpki(['--root', root, 'backups', '-o', 'json']).stdout) as { id: string; reason: string }[];
  const san = backups.find((b) => b.reason === 'san add')!;
  assert.equal(kpki(['--root', root, 'restore', san.id]).status, 0);
  assert.equal(hashTree(root), before, 'restore gives back the tree as before san add');
});

test('san remove: a name still used by a kubeconfig, the endpoint or the advertise address is refused unless --force; an unused one goes, from kubeadm-config.yaml too', () => {
  const root = nodeWithConfig();
  assert.equal(kpki(['--root', root, 'san', 'add', 'DNS:old.example.com', '--yes']).status, 0);
  const before = hashTree(root);
  const used = kpki(['--root', root, 'san', 'remove', 'IP:127.0.0.11', '--yes']);
  assert.equal(used.status, 2);
  assert.match(used.stderr, /a name to remove is still in use:\n\s+127\.0\.0\.11: the server of \/etc\/kubernetes\/admin\.conf/);
  assert.match(used.stderr, /controlPlaneEndpoint in \/etc\/kubernetes\/kubeadm-config\.yaml/);
  assert.match(used.stderr, /kube-apiserver's --advertise-address/);
  assert.equal(hashTree(root), before, 'refused: every byte as it was');
  const r = kpki(['--root', root, 'san', 'remove', 'DNS:old.example.com', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(sansOf(root, 'apiserver.crt'), /old\.example\.com/);
  assert.doesNotMatch(readFileSync(join(root, 'etc/kubernetes/kubeadm-config.yaml'), 'utf8'), /old\.example\.com/);
  const forced = kpki(['--root', root, 'san', 'remove', 'IP:127.0.0.11', '--yes', '--force']);
  assert.equal(forced.status, 0, forced.stderr);
  assert.match(forced.stdout, /--force: removing names still in use/);
  assert.doesNotMatch(sansOf(root, 'apiserver.crt'), /127\.0\.0\.11/);
});

test('san on etcd: --cert etcd-server changes that certificate alone and records etcd.local.serverCertSANs', () => {
  const root = nodeWithConfig();
  const peer = sansOf(root, 'etcd/peer.crt');
  const r = kpki(['--root', root, 'san', 'add', '--cert', 'etcd-server', 'DNS:etcd.example.com', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(sansOf(root, 'etcd/server.crt'), /DNS:etcd\.example\.com/);
  assert.equal(sansOf(root, 'etcd/peer.crt'), peer);
  assert.ok(verifies(join(root, PKI, 'etcd/ca.crt'), join(root, PKI, 'etcd/server.crt')).ok);
  assert.match(
    readFileSync(join(root, 'etc/kubernetes/kubeadm-config.yaml'), 'utf8'),
    /etcd:\n\s+local:\n\s+dataDir: \/var\/lib\/etcd\n\s+serverCertSANs:\n\s+- etcd\.example\.com/,
  );
});

test('san: bad names, an unknown certificate, and a name already there are said clearly; nothing is written', () => {
  const root = nodeWithConfig();
  const before = hashTree(root);
  for (const [args, message] of [
    [['add', 'lb.example.com'], /"lb\.example\.com" is not DNS:NAME or IP:ADDRESS/],
    [['add', 'IP:300.1.1.1'], /"300\.1\.1\.1" is not an IP address/],
    [['add', 'DNS:bad_name!'], /"bad_name!" is not a DNS name/],
    [['add', '--cert', 'front-proxy-client', 'DNS:x.example'], /--cert must be one of apiserver, etcd-server, etcd-peer/],
  ] as [string[], RegExp][]) {
    const r = kpki(['--root', root, 'san', ...args, '--yes']);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const same = kpki(['--root', root, 'san', 'add', 'IP:127.0.0.11', '--yes']);
  assert.equal(same.status, 0);
  assert.match(same.stdout, /already carries exactly these names: nothing to change/);
  assert.equal(hashTree(root), before);
  // openssl can read what the refused runs left: nothing of theirs
  assert.equal(spawnSync('openssl', ['x509', '-in', join(root, PKI, 'apiserver.crt'), '-noout']).status, 0);
});
