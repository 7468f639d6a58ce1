// kpki kubelet status / renew on node trees: an embedded kubelet.conf (kubeadm ≤ 1.17) is switched to the rotated
// PEM the kubelet's way; openssl judges the new certificate.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kpki, hashTree, removeTree } from '../helpers/kpki.js';
import { expiredControlPlane } from '../helpers/lab.js';
import { certFacts, verifies } from '../helpers/openssl.js';

const roots: string[] = [];
after(() => roots.forEach(removeTree));

test('kubelet status says where the identity lives and warns about an embedded, expired one', async () => {
  const root = await expiredControlPlane({ flavour: '1.11' });
  roots.push(root);
  const r = kpki(['--root', root, 'kubelet', 'status']);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /client identity: +embedded in \/etc\/kubernetes\/kubelet\.conf/);
  assert.match(r.stdout, /rotateCertificates: +yes/);
  assert.match(r.stdout, /cluster-signing-duration: +8760h \(default\)/);
  assert.match(r.stdout, /warning: the client certificate is embedded in kubelet\.conf/);
  assert.match(r.stdout, /warning: the client certificate has expired/);
});

test('kubelet renew: new kubelet-client-<time>.pem, symlink, kubelet.conf switched to file references', async () => {
  const root = await expiredControlPlane({ flavour: '1.11' });
  roots.push(root);
  const before = readFileSync(join(root, 'etc/kubernetes/kubelet.conf'), 'utf8');
  const dry = kpki(['--root', root, 'kubelet', 'renew', '--dry-run']);
  const untouched = hashTree(root);
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /system:node:lab-cp1 \(O=system:nodes\)/);
  assert.equal(hashTree(root), untouched);

  const r = kpki(['--root', root, 'kubelet', 'renew', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  const link = join(root, 'var/lib/kubelet/pki/kubelet-client-current.pem');
  assert.ok(lstatSync(link).isSymbolicLink());
  const pem = join(root, readlinkSync(link));
  assert.equal(lstatSync(pem).mode & 0o777, 0o600);
  assert.ok(verifies(join(root, 'etc/kubernetes/pki/ca.crt'), pem).ok);
  const facts = certFacts(pem);
  assert.equal(facts.subject, 'CN=system:node:lab-cp1,O=system:nodes');
  assert.equal(facts.eku, 'TLS Web Client Authentication');
  const after = readFileSync(join(root, 'etc/kubernetes/kubelet.conf'), 'utf8');
  assert.match(after, /client-certificate: \/var\/lib\/kubelet\/pki\/kubelet-client-current\.pem/);
  assert.match(after, /client-key: \/var\/lib\/kubelet\/pki\/kubelet-client-current\.pem/);
  assert.doesNotMatch(after, /client-(certificate|key)-data/);
  // only the user's credential lines changed
  const changed = after.split('\n').filter((l) => !before.includes(l));
  assert.equal(changed.length, 2, changed.join('\n'));
  const status = kpki(['--root', root, 'kubelet', 'status']);
  assert.match(status.stdout, /client identity: +\/var\/lib\/kubelet\/pki\/kubelet-client-current\.pem/);
  assert.match(kpki(['--root', root, 'check']).stdout, /^kubelet-client .* 364d .*ok$/m);
});

test("kubelet renew on a worker: refuses without a CA, and refuses a CA that is not the cluster's", async () => {
  const root = await expiredControlPlane();
  const other = await expiredControlPlane();
  roots.push(root, other);
  removeTree(join(root, 'etc/kubernetes/pki/ca.key'));
  const before = hashTree(root);
  const none = kpki(['--root', root, 'kubelet', 'renew', '--yes']);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /no cluster CA key .*: give --ca-cert and --ca-key/);
  const wrong = kpki([
    '--root',
    root,
    'kubelet',
    'renew',
    '--yes',
    '--ca-cert',
    join(other, 'etc/kubernetes/pki/ca.crt'),
    '--ca-key',
    join(other, 'etc/kubernetes/pki/ca.key'),
  ]);
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /is not this cluster's CA/);
  assert.equal(hashTree(root), before);
});

test('kubelet enable-rotation: only the intended lines change, comments and other fields stay', async () => {
  const root = await expiredControlPlane();
  roots.push(root);
  const configPath = join(root, 'var/lib/kubelet/config.yaml');
  const config = `# managed by kubeadm; local edits below\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nrotateCertificates: false # was turned off\ncgroupDriver: systemd\nauthentication:\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\nevictionHard:\n  memory.available: "100Mi"\n`;
  writeFileSync(configPath, config);
  const manifestPath = join(root, 'etc/kubernetes/manifests/kube-controller-manager.yaml');
  const manifest = readFileSync(manifestPath, 'utf8');
  const dry = kpki(['--root', root, 'kubelet', 'enable-rotation', '--dry-run']);
  assert.equal(dry.status, 0, dry.stderr);
  assert.equal(readFileSync(configPath, 'utf8'), config);

  const r = kpki(['--root', root, 'kubelet', 'enable-rotation', '--signing-duration', '17520h', '--yes']);
  assert.equal(r.status, 0, r.stderr);
  const newConfig = readFileSync(configPath, 'utf8').split('\n');
  const oldConfig = config.split('\n');
  assert.equal(newConfig.length, oldConfig.length);
  assert.deepEqual(
    newConfig.filter((l, i) => l !== oldConfig[i]),
    ['rotateCertificates: true # was turned off'],
  );
  const newManifest = readFileSync(manifestPath, 'utf8').split('\n');
  const added = newManifest.filter((l) => !manifest.split('\n').includes(l));
  assert.deepEqual(added, ['    - --cluster-signing-duration=17520h']);
  assert.equal(newManifest.length, manifest.split('\n').length + 1);
  // kubeadm's sorted flag order is kept
  const flags = newManifest.filter((l) => l.startsWith('    - --'));
  assert.deepEqual(flags, [...flags].sort());
  assert.match(kpki(['--root', root, 'kubelet', 'status']).stdout, /cluster-signing-duration: +17520h/);
  assert.match(kpki(['--root', root, 'kubelet', 'enable-rotation', '--signing-duration', '17520h', '--yes']).stdout, /Nothing to change/);
});
