// The one lab shared by every suite of test/lab/cluster.test.ts (a 3 + 1 cluster: starting it takes seconds, so the
// suites share it and each test puts back what it changed).
import { after, before } from 'node:test';
import '../../../src/pki/provider.js';
import { Lab, LabNode } from '../../../lab/lab.js';
import { labSkipReason } from '../../helpers/lab-tools.js';

export const skip = labSkipReason();
let current: Lab | undefined;

before(async () => {
  if (!skip) current = await Lab.start({ controlPlanes: 3, workers: 1 });
});
after(async () => {
  await current?.stop();
});

export function lab(): Lab {
  if (!current) throw new Error('the lab did not start');
  return current;
}

export const admin = (node: LabNode) => node.path('/etc/kubernetes/admin.conf');
