// Every real-world case: check reads it and agrees with openssl's REPORT.txt; where the CA keys are present,
// renew all, then openssl judges every renewed certificate; restore gives the tree back byte for byte.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  caseNames,
  copyCase,
  copyKubespray,
  FIXTURES,
  FixtureRoot,
  fixturesPresent,
  kubesprayConfigs,
  reportedCerts,
  SKIP_REASON,
} from '../helpers/fixtures.js';
import { hashTree, keyModesTightened, kpki, removeTree } from '../helpers/kpki.js';
import { certTexts, publicKeyTextOfKey, tempFile, verifiesEach } from '../helpers/openssl.js';

interface JsonItem {
  name: string;
  path: string;
  notAfter?: string;
  missing: boolean;
  renewable?: boolean;
  caName?: string;
  status: string[];
}
interface JsonInfo {
  certificates: JsonItem[];
  certificateAuthorities: JsonItem[];
}

const roots: string[] = [];
after(() => roots.forEach(removeTree));

function checkJson(fx: FixtureRoot): JsonInfo {
  const r = kpki(['--root', fx.root, ...fx.flags, 'check', '-o', 'json']);
  assert.notEqual(r.status, 3, `check could not read ${fx.name}: ${r.stderr}`);
  assert.equal(r.stderr, '', `check wrote errors for ${fx.name}`);
  return JSON.parse(r.stdout);
}

function assertMatchesReport(fx: FixtureRoot, reportText: string, info: JsonInfo): number {
  const items = [...info.certificates, ...info.certificateAuthorities];
  let compared = 0;
  for (const reported of reportedCerts(reportText)) {
    if (reported.embedded && !reported.embedded.includes('client-certificate-data')) continue;
    const nodePath = fx.pathMap(reported.file);
    if (!nodePath) continue;
    const found = items.filter((i) => i.path === nodePath && i.notAfter);
    if (found.length === 0 && /\/var\/lib\/kubelet\//.test(nodePath)) continue;
    assert.ok(found.length > 0, `${fx.name}: kpki did not report ${nodePath} (REPORT has it)`);
    const ms = new Date(found[0].notAfter!).getTime();
    assert.equal(
      ms,
      reported.notAfter.getTime(),
      `${fx.name}: ${nodePath} notAfter ${found[0].notAfter} != openssl ${reported.notAfter.toISOString()}`,
    );
    compared++;
  }
  return compared;
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** The client certificate of a kubeconfig as a temp PEM file, and its key. */
function kubeconfigCredentials(path: string): { cert: string; key: string; doc: any } {
  const doc = parse(readFileSync(path, 'utf8'));
  const ctx = doc.contexts.find((c: any) => c.name === doc['current-context']).context;
  const user = doc.users.find((u: any) => u.name === ctx.user).user;
  return {
    cert: tempFile(Buffer.from(user['client-certificate-data'], 'base64')),
    key: tempFile(Buffer.from(user['client-key-data'], 'base64')),
    doc,
  };
}

function namesOf(doc: any) {
  return {
    clusters: doc.clusters.map((c: any) => c.name),
    users: doc.users.map((u: any) => u.name),
    contexts: doc.contexts.map((c: any) => c.name),
    current: doc['current-context'],
    servers: doc.clusters.map((c: any) => c.cluster.server),
  };
}

function renewAndJudge(fx: FixtureRoot, before: JsonInfo): void {
  // restore gives back every byte; files holding private keys come back readable by their owner only (some cases
  // keep them 0444: kpki never leaves key material readable by group or others)
  const originalHash = hashTree(fx.root, undefined, keyModesTightened);
  const caFiles = before.certificateAuthorities.filter((c) => !c.missing).map((c) => join(fx.root, c.path));
  const saFiles = ['sa.key', 'sa.pub']
    .map((f) => join(fx.root, (before.certificateAuthorities.find((c) => c.name === 'ca')?.path ?? '/x/ca.crt').replace(/ca\.crt$/, f)))
    .filter(existsSync);
  const untouched = new Map([...caFiles, ...saFiles].map((f) => [f, sha(f)]));
  const renewable = before.certificates.filter((c) => c.renewable);
  const isKubeconfig = (item: JsonItem) => item.path.endsWith('.conf') || item.path.endsWith('/config');
  const oldNames = new Map<string, unknown>();
  const oldCertFiles = renewable.map((item) => {
    const file = join(fx.root, item.path);
    if (!isKubeconfig(item)) return file;
    const creds = kubeconfigCredentials(file);
    oldNames.set(item.name, namesOf(creds.doc));
    return creds.cert;
  });
  // what openssl reads, for every renewable certificate in one run (certTexts), before and after
  const oldFacts = new Map(certTexts(oldCertFiles).map((facts, i) => [renewable[i].name, facts]));

  const started = Date.now();
  const r = kpki(['--root', fx.root, ...fx.flags, 'renew', 'all', '--yes']);
  assert.equal(r.status, 0, `${fx.name}: renew all failed: ${r.stderr}`);
  const afterInfo = checkJson(fx);
  const renewed = renewable.map((item) => {
    const now = afterInfo.certificates.find((c) => c.name === item.name)!;
    const ca = afterInfo.certificateAuthorities.find((c) => c.name === now.caName);
    assert.ok(ca, `${fx.name}: ${item.name} has no CA after renewal`);
    const file = join(fx.root, now.path);
    if (!isKubeconfig(item))
      return {
        item,
        caFile: join(fx.root, ca.path),
        certFile: file,
        keyFile: file.replace(/\.crt$/, '.key').replace(/\.pem$/, '-key.pem'),
      };
    const creds = kubeconfigCredentials(file);
    assert.deepEqual(namesOf(creds.doc), oldNames.get(item.name), `${fx.name}: ${item.name} lost names or servers`);
    return { item, caFile: join(fx.root, ca.path), certFile: creds.cert, keyFile: creds.key };
  });
  const verdicts = verifiesEach(renewed.map((x): [string, string] => [x.caFile, x.certFile]));
  const newFacts = certTexts(renewed.map((x) => x.certFile));
  const issuers = [...new Set(renewed.map((x) => x.caFile))];
  const caEnds = new Map(certTexts(issuers).map((facts, i) => [issuers[i], facts.notAfter.getTime()]));
  renewed.forEach(({ item, caFile, keyFile }, i) => {
    assert.ok(verdicts[i].ok, `${fx.name}: openssl verify ${item.name}: ${verdicts[i].output}`);
    const facts = newFacts[i];
    const old = oldFacts.get(item.name)!;
    assert.equal(facts.subject, old.subject, `${fx.name}: ${item.name} subject changed`);
    assert.equal(facts.sans, old.sans, `${fx.name}: ${item.name} SANs changed`);
    assert.equal(facts.eku, old.eku, `${fx.name}: ${item.name} extended key usage changed`);
    assert.equal(facts.publicKey, publicKeyTextOfKey(keyFile), `${fx.name}: ${item.name} key does not match`);
    assert.notEqual(facts.publicKey, old.publicKey, `${fx.name}: ${item.name} kept its key without --reuse-keys`);
    const expected = Math.min(Math.floor(started / 1000) * 1000 + 365 * 86_400_000, caEnds.get(caFile)!);
    assert.ok(Math.abs(facts.notAfter.getTime() - expected) < 120_000, `${fx.name}: ${item.name} notAfter ${facts.notAfter.toISOString()}`);
  });
  for (const [file, digest] of untouched) assert.equal(sha(file), digest, `${fx.name}: ${file} changed (CAs and sa.* must not)`);

  const backups = JSON.parse(kpki(['--root', fx.root, 'backups', '-o', 'json']).stdout);
  assert.equal(backups.length, 1);
  const restored = kpki(['--root', fx.root, 'restore', backups[0].id]);
  assert.equal(restored.status, 0, restored.stderr);
  assert.equal(hashTree(fx.root), originalHash, `${fx.name}: restore did not give back a byte-identical tree (key files at most 0600)`);
}

describe('real-world kubeadm, KubeKey and Kubespray trees', { skip: fixturesPresent ? false : SKIP_REASON }, () => {
  for (const name of caseNames()) {
    test(name, () => {
      const fx = copyCase(name);
      roots.push(fx.root);
      const info = checkJson(fx);
      const compared = assertMatchesReport(fx, readFileSync(join(FIXTURES, name, 'REPORT.txt'), 'utf8'), info);
      assert.ok(compared >= 2, `${name}: only ${compared} certificates compared with REPORT.txt`);
      if (info.certificates.some((c) => c.renewable)) renewAndJudge(fx, info);
      else assert.ok(!fx.caKeys || name.includes('sjkcdpc'), `${name}: has CA keys but nothing is renewable`);
    });
  }

  test('kubespray admin kubeconfigs (no CA key: read-only, externally managed)', () => {
    const report = readFileSync(join(FIXTURES, 'kubespray-admin-kubeconfigs', 'REPORT.txt'), 'utf8');
    for (const rel of kubesprayConfigs()) {
      const fx = copyKubespray(rel);
      roots.push(fx.root);
      const info = checkJson(fx);
      assertMatchesReport(fx, report, info);
      const admin = info.certificates.find((c) => c.name === 'admin.conf')!;
      assert.equal(admin.renewable, false);
      // nothing is renewed; the kubeconfig (0444 in the case) keeps its bytes and is made readable by its owner only
      const expected = hashTree(fx.root, undefined, keyModesTightened);
      const r = kpki(['--root', fx.root, 'renew', 'all', '--yes']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /admin\.conf: CA key of ca is absent \(externally managed\)/);
      assert.equal(hashTree(fx.root), expected);
    }
  });
});
