// Trees kpki did not build: ../shared/tools/mklab.py writes kubeadm 1.31-style HA nodes from kubeadm's and client-go's
// source (the kubelet's kubelet.crt holds its own throwaway CA after the leaf; super-admin.conf only on node 1;
// kubeadm's file modes). check must judge a healthy node clean and an expired one CRITICAL; renew all renews
// everything it can, the kubelet's serving certificate included; openssl judges the result.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashTree, kpki, removeTree } from '../helpers/kpki.js';
import { mklab, mklabSkipReason, MklabTree } from '../helpers/mklab.js';
import { checkJson, judgeNode, opensslNotAfter, pemBlocks } from '../helpers/judge.js';
import { tempFile, openssl, signRequest } from '../helpers/openssl.js';

const skip = mklabSkipReason();
const dirs: string[] = [];
after(() => dirs.forEach(removeTree));

const DAY = 86_400_000;

function tree(args: string[], bare = false): MklabTree {
  const made = mklab(args, bare);
  dirs.push(made.dir);
  return made;
}

function kubeletServingSubjects(root: string): string[] {
  return pemBlocks(readFileSync(join(root, 'var/lib/kubelet/pki/kubelet.crt'), 'utf8')).map((pem) =>
    openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', tempFile(pem)]).stdout.trim(),
  );
}

for (const alg of ['ecdsa-p256', 'rsa-2048']) {
  describe(`mklab.py trees (${alg})`, { skip }, () => {
    test('a healthy node checks clean (exit 0), control plane and worker; the kubelet serving certificate is judged against its own CA', () => {
      // (RSA trees take python seconds per node: two control-plane nodes show every shape three do)
      const nodes = alg.startsWith('rsa') ? '2' : '3';
      const lab = tree(['--alg', alg, '--nodes', nodes, '--workers', '1', '--expired-days', '-200']);
      for (const node of lab.nodes) {
        const { status, info, stderr } = checkJson(node.root);
        const bad = [...info.certificates, ...info.certificateAuthorities]
          .filter((i) => i.severity > 0)
          .map((i) => `${i.name}: ${i.status.join(', ')}`);
        assert.equal(status, 0, `${node.name}: check exit ${status}: ${bad.join('; ')} ${stderr}`);
        const serving = info.certificates.find((c) => c.name === 'kubelet-serving');
        assert.ok(serving, `${node.name}: kubelet-serving not listed`);
        assert.equal(serving.caName, 'own-ca');
        assert.deepEqual(serving.problems, []);
        const judged = judgeNode(node.root, info, node.name);
        // 7 leaves, 4 kubeconfigs (super-admin.conf on the init node only), the kubelet's client and serving certificates
        const expected = node.role === 'worker' ? 2 : node.name === 'cp1' ? 13 : 12;
        assert.equal(judged, expected, `${node.name}: ${judged} certificates judged`);
      }
      const table = kpki(['--root', lab.nodes[0].root, 'check']);
      assert.match(table.stdout, /^kubelet-serving .*the kubelet's own CA/m);
    });

    test('an expired node is CRITICAL; renew all renews everything (the kubelet serving certificate too, in its own shape); restore gives it back', () => {
      const lab = tree(['--alg', alg, '--nodes', alg.startsWith('rsa') ? '2' : '3', '--workers', '1', '--expired-days', '10']);
      const [cp1, cp2] = lab.nodes;
      const worker = lab.nodes.find((n) => n.role === 'worker')!;
      for (const node of lab.nodes) {
        const { status, info } = checkJson(node.root);
        assert.equal(status, 2, `${node.name}: an expired node must be CRITICAL`);
        const serving = info.certificates.find((c) => c.name === 'kubelet-serving')!;
        // an expired kubelet serving certificate breaks scrapers that verify it, not the cluster: a warning
        assert.equal(serving.severity, 1, `${node.name}: kubelet-serving ${serving.status}`);
        assert.equal(serving.renewable, true);
      }
      for (const node of [cp1, cp2]) {
        const original = hashTree(node.root);
        const oldSubjects = kubeletServingSubjects(node.root);
        const started = Date.now();
        const r = kpki(['--root', node.root, 'renew', 'all', '--yes']);
        assert.equal(r.status, 0, `${node.name}: ${r.stderr}`);
        assert.match(r.stdout, /kubelet-serving/);
        const { status, info } = checkJson(node.root);
        const bad = [...info.certificates, ...info.certificateAuthorities]
          .filter((i) => i.severity > 0)
          .map((i) => `${i.name}: ${i.status.join(', ')}`);
        assert.equal(status, 0, `${node.name}: after renew: ${bad.join('; ')}`);
        const judged = judgeNode(node.root, info, node.name);
        assert.equal(judged, node.name === 'cp1' ? 13 : 12, `${node.name}: ${judged} certificates judged`);
        // client-go's shape: leaf "<host>@<unix>", then its CA "<host>-ca@<unix>", one year from an hour ago
        const subjects = kubeletServingSubjects(node.root);
        assert.equal(subjects.length, 2);
        assert.match(subjects[0], new RegExp(`^subject=CN=${node.name}@\\d+$`));
        assert.match(subjects[1], new RegExp(`^subject=CN=${node.name}-ca@\\d+$`));
        assert.notDeepEqual(subjects, oldSubjects);
        const notAfter = opensslNotAfter(join(node.root, 'var/lib/kubelet/pki/kubelet.crt')).getTime();
        assert.ok(Math.abs(notAfter - (started + 365 * DAY)) < 2 * 3600_000, `kubelet.crt notAfter ${new Date(notAfter).toISOString()}`);
        if (node === cp1) {
          const backups = JSON.parse(kpki(['--root', node.root, 'backups', '-o', 'json']).stdout);
          const restored = kpki(['--root', node.root, 'restore', backups[0].id]);
          assert.equal(restored.status, 0, restored.stderr);
          assert.equal(hashTree(node.root), original, `${node.name}: restore did not give back the tree byte for byte`);
        }
      }
      // a worker: its serving certificate needs no cluster CA; its client certificate is signed with cp2's CA
      const w = kpki(['--root', worker.root, 'renew', 'all', '--yes']);
      assert.equal(w.status, 0, w.stderr);
      assert.match(w.stdout, /kubelet-serving/);
      const pki = join(cp2.root, 'etc/kubernetes/pki');
      const k = kpki([
        '--root',
        worker.root,
        'kubelet',
        'renew',
        '--ca-cert',
        join(pki, 'ca.crt'),
        '--ca-key',
        join(pki, 'ca.key'),
        '--yes',
        '--no-restart',
      ]);
      assert.equal(k.status, 0, k.stderr);
      const { status, info } = checkJson(worker.root);
      assert.equal(status, 0, JSON.stringify(info.certificates.map((c) => [c.name, c.status])));
      const judged = judgeNode(worker.root, info, worker.name);
      assert.equal(judged, 2, `${worker.name}: ${judged} certificates judged`);
    });
  });
}

describe("mklab.py's trees with an external CA", { skip }, () => {
  test("csr on an expired control-plane node, openssl signs with the tree's own CAs, import installs them: openssl verifies each; a worker has nothing to request", () => {
    for (const alg of ['ecdsa-p256', 'rsa-2048']) {
      const lab = tree(['--alg', alg, '--nodes', '1', '--workers', '1', '--expired-days', '10']);
      const [cp, worker] = lab.nodes;
      const out = join(lab.dir, 'requests');
      const untouched = hashTree(worker.root);
      const w = kpki(['--root', worker.root, 'csr', 'all', '--out', out, '--node-name', 'w', '--yes']);
      assert.equal(w.status, 0, w.stderr);
      assert.match(w.stdout, /nothing to request/i);
      assert.equal(hashTree(worker.root), untouched, `${alg}: the worker is untouched`);
      const made = kpki(['--root', cp.root, 'csr', 'all', '--out', out, '--node-name', 'n', '--yes']);
      assert.equal(made.status, 0, `${alg}: ${made.stderr}`);
      const requests = JSON.parse(readFileSync(join(out, 'n', 'csr.json'), 'utf8')).requests as {
        name: string;
        csr: string;
        crt: string;
        ca: string;
        extKeyUsages: string[];
      }[];
      const pki = join(cp.root, 'etc/kubernetes/pki');
      const caFiles: Record<string, string> = { ca: 'ca', 'etcd-ca': 'etcd/ca', 'front-proxy-ca': 'front-proxy-ca' };
      for (const r of requests) {
        const ca = join(pki, caFiles[r.ca]);
        signRequest({
          csr: join(out, 'n', r.csr),
          caCrt: `${ca}.crt`,
          caKey: `${ca}.key`,
          extKeyUsages: r.extKeyUsages,
          out: join(out, 'n', r.crt),
        });
      }
      const imported = kpki(['--root', cp.root, 'import', '--from', out, '--node-name', 'n', '--yes']);
      assert.equal(imported.status, 0, `${alg}: ${imported.stdout}${imported.stderr}`);
      assert.match(imported.stdout, new RegExp(`Installed ${requests.length} certificate\\(s\\)`));
      const { info } = checkJson(cp.root);
      const names = new Set(requests.map((r) => r.name));
      const installed = info.certificates.filter((c) => names.has(c.name));
      for (const item of installed)
        assert.deepEqual(
          item.problems.filter((p) => p.code !== 'loose-mode'),
          [],
          `${alg}: ${item.name}`,
        );
      assert.equal(judgeNode(cp.root, { ...info, certificates: installed }, alg), requests.length);
      assert.equal(requests.length, 11, `${alg}: 7 leaves and 4 kubeconfigs`);
    }
  });
});

describe("mklab.py's other shapes", { skip }, () => {
  test('without --manifests (kubeconfigs to a load balancer name, no manifests, no kubelet.crt) and with kube-apiserver on its own etcd member: check judges, renew all renews, openssl agrees', () => {
    const bare = tree(['--nodes', '2', '--expired-days', '-100'], true);
    const local = tree(['--nodes', '2', '--apiserver-etcd', 'local', '--control-plane-endpoint', 'lab-api:6443', '--expired-days', '3']);
    for (const [label, node, healthy] of [
      ['no manifests', bare.nodes[1], true],
      ['local etcd, named endpoint', local.nodes[0], false],
    ] as const) {
      const before = checkJson(node.root);
      assert.equal(before.status, healthy ? 0 : 2, `${label}: ${JSON.stringify(before.info.certificates.map((c) => [c.name, c.status]))}`);
      const r = kpki(['--root', node.root, 'renew', 'all', '--yes']);
      assert.equal(r.status, 0, `${label}: ${r.stderr}`);
      const { status, info } = checkJson(node.root);
      assert.equal(status, 0, `${label}: ${JSON.stringify(info.certificates.map((c) => [c.name, c.status]))}`);
      assert.ok(judgeNode(node.root, info, label) >= 11, label);
    }
  });
});
