// What a finished rotation of the cluster CA must leave on a lab, judged by real parts: openssl verifies the leaves
// against the new CA and not the old, the controller-manager's signer never read a bundle, and real kubectl with the
// new admin.conf reaches the API and, through node proxy, the worker's kubelet (which trusts clientCAFile).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabNode } from '../../lab/lab.js';
import { apiUrl, kubectl } from './lab-tools.js';
import { tempFile, verifiesEach } from './openssl.js';

export async function assertClusterCaRotated(o: { cp: LabNode; worker: LabNode; newCa: Buffer; oldCa: Buffer; leaves: string[] }) {
  const logs = join(o.cp.dir, 'logs');
  for (const log of readdirSync(logs).filter((f) => f.startsWith('kube-controller-manager')))
    assert.doesNotMatch(
      readFileSync(join(logs, log), 'utf8'),
      /expected 1 certificate/,
      `${o.cp.name} ${log}: the signer never read a bundle`,
    );
  const byNew = verifiesEach(o.leaves.map((l): [string, string] => [tempFile(o.newCa), l]));
  const byOld = verifiesEach(o.leaves.map((l): [string, string] => [tempFile(o.oldCa), l]));
  o.leaves.forEach((l, i) => {
    assert.ok(byNew[i].ok, `${l}: openssl verifies it against the new CA: ${byNew[i].output}`);
    assert.equal(byOld[i].ok, false, `${l}: not against the old one`);
  });
  const admin = o.cp.path('/etc/kubernetes/admin.conf');
  const nodes = await kubectl(admin, ['get', 'nodes', '-o', 'name'], apiUrl(o.cp));
  assert.equal(nodes.code, 0, nodes.out);
  const proxied = await kubectl(admin, ['get', '--raw', `/api/v1/nodes/${o.worker.name}/proxy/healthz`], apiUrl(o.cp));
  assert.equal(proxied.stdout.trim(), 'ok', proxied.out);
}
