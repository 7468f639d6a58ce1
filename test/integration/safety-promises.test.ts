// docs/safety.md's promises that no other test checked: a CA not yet valid signs nothing; every written file is read
// back (a write the disk corrupts is caught and rolled back); key files and kubeconfigs are tightened, never loosened,
// by kubeconfig update too; backups prune keeps the backup an interrupted rollout needs to resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedHealthyNode } from '../helpers/lab.js';
import { hashTree, kpki } from '../helpers/kpki.js';
import { openssl } from '../helpers/openssl.js';

const { fresh } = sharedHealthyNode();
const PKI = 'etc/kubernetes/pki';

test('a CA not yet valid signs nothing: renew refuses (exit 1) naming the CA file and the clock, every byte as it was', () => {
  const root = fresh();
  // the front-proxy CA re-made with its own key, valid only from tomorrow
  const ca = join(root, PKI, 'front-proxy-ca');
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const conf = join(root, 'ca.cnf');
  writeFileSync(
    conf,
    `[ca]\ndefault_ca=d\n[d]\ndatabase=${join(root, 'index.txt')}\nnew_certs_dir=${root}\nserial=${join(root, 'serial')}\ndefault_md=sha256\npolicy=p\ncopy_extensions=copy\n[p]\ncommonName=supplied\n[ext]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,digitalSignature\n`,
  );
  writeFileSync(join(root, 'index.txt'), '');
  writeFileSync(join(root, 'serial'), '01\n');
  const csr = openssl(['req', '-new', '-key', `${ca}.key`, '-subj', '/CN=front-proxy-ca']).stdout;
  writeFileSync(join(root, 'ca.csr'), csr);
  const made = openssl([
    'ca',
    '-batch',
    '-config',
    conf,
    '-selfsign',
    '-keyfile',
    `${ca}.key`,
    '-in',
    join(root, 'ca.csr'),
    '-extensions',
    'ext',
    '-startdate',
    `${tomorrow}Z`,
    '-enddate',
    '20361201000000Z',
    '-out',
    `${ca}.crt`,
    '-notext',
  ]);
  assert.equal(made.status, 0, made.stderr);
  const before = hashTree(root);
  const r = kpki(['--root', root, 'renew', 'front-proxy-client', '--yes']);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /front-proxy-ca.*is not valid before .*clock/);
  assert.equal(hashTree(root), before);
});

test('every written file is read back: a write the disk changed is caught, the transaction rolled back, exit 1', () => {
  const root = fresh();
  const before = hashTree(root);
  const r = kpki(['--root', root, 'renew', 'all', '--yes'], { KPKI_TEST_CORRUPT_WRITE: 'pki/apiserver.crt' });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /apiserver\.crt does not read back as written/);
  assert.equal(hashTree(root), before, 'rolled back: every byte as it was');
});

test('kubeconfig update tightens a kubeconfig readable by others to 0600, never loosens one', () => {
  const root = fresh();
  const home = join(root, 'root/.kube');
  mkdirSync(home, { recursive: true });
  const config = join(home, 'config');
  writeFileSync(config, readFileSync(join(root, 'etc/kubernetes/admin.conf')));
  chmodSync(config, 0o644);
  // a renewal of admin.conf, then the update of the user's copy
  assert.equal(kpki(['--root', root, 'renew', 'admin.conf', '--yes']).status, 0);
  const r = kpki(['--root', root, 'kubeconfig', 'update']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(statSync(config).mode & 0o777, 0o600, 'tightened');
  chmodSync(config, 0o400);
  assert.equal(kpki(['--root', root, 'renew', 'admin.conf', '--yes']).status, 0);
  assert.equal(kpki(['--root', root, 'kubeconfig', 'update']).status, 0);
  assert.equal(statSync(config).mode & 0o777, 0o400, 'a stricter mode is kept');
});

test('backups prune keeps the backup an interrupted rollout needs to resume', () => {
  const root = fresh();
  for (let i = 0; i < 3; i++) assert.equal(kpki(['--root', root, 'renew', 'front-proxy-client', '--yes']).status, 0);
  const ids = readdirSync(join(root, 'var/lib/kpki/backups')).sort();
  writeFileSync(
    join(root, 'var/lib/kpki/rollout.json'),
    JSON.stringify({ rollout: 'r20261207T000000Z-test', backup: ids[0], step: 'written' }),
  );
  const r = kpki(['--root', root, 'backups', 'prune', '--keep', '1', '--yes']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`keeping ${ids[0]}: rollout r20261207T000000Z-test \\(kpki renew -i --resume\\) needs it`));
  assert.deepEqual(readdirSync(join(root, 'var/lib/kpki/backups')).sort(), [ids[0], ids[2]]);
});
