// A renew killed (SIGKILL) at several points: the next run rolls back what the dead run half did, leaves a
// consistent tree (every key matches its certificate) and loses nothing (the original bytes are in the first backup).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { hashTree, kpki } from '../helpers/kpki.js';
import { sharedExpiredNode } from '../helpers/lab.js';

const node = sharedExpiredNode();

interface Item {
  name: string;
  status: string[];
  problems: { code: string }[];
}

function assertConsistent(root: string): Item[] {
  const r = kpki(['--root', root, 'check', '-o', 'json']);
  assert.notEqual(r.status, 3, r.stderr);
  const info = JSON.parse(r.stdout);
  const items: Item[] = [...info.certificates, ...info.certificateAuthorities];
  for (const item of items) {
    assert.deepEqual(item.problems, [], `${item.name} has problems after recovery: ${JSON.stringify(item.problems)}`);
  }
  return items;
}

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

for (const point of ['after-backup', 'between-key-and-cert', 'between-files']) {
  test(`renew killed ${point}: the next run recovers, nothing is lost, and the first backup gives back the whole tree byte for byte`, () => {
    const root = node.fresh();
    const template = node.template();
    // the whole tree, the kubelet's directory included (renew adds a kubelet-client-<time>.pem there)
    const originalHash = hashTree(root);
    assert.equal(originalHash, hashTree(template), 'the copy is the template');
    const killed = kpki(['--root', root, 'renew', 'all', '--yes'], { KPKI_TEST_CRASH_AT: point });
    assert.equal(killed.status, 128, `the run should have been killed at ${point}: ${killed.stdout}${killed.stderr}`);
    assert.ok(existsSync(join(root, 'var/lib/kpki/lock')), 'a killed run leaves its lock behind');

    // Nothing lost: the first backup holds every original byte of what the run was about to touch.
    const [firstId] = readdirSync(join(root, 'var/lib/kpki/backups')).sort();
    const manifest = JSON.parse(readFileSync(join(root, 'var/lib/kpki/backups', firstId, 'manifest.json'), 'utf8'));
    for (const file of manifest.files.filter((f: { type: string }) => f.type === 'file')) {
      const stored = readFileSync(join(root, 'var/lib/kpki/backups', firstId, 'files', file.path));
      assert.equal(sha(stored), file.sha256);
      assert.equal(sha(readFileSync(join(template, file.path))), file.sha256, `backup of ${file.path} differs from the original`);
    }

    const next = kpki(['--root', root, 'renew', 'all', '--yes']);
    assert.equal(next.status, 0, next.stderr);
    if (point !== 'after-backup') assert.match(next.stderr, /was interrupted; its files were restored from backup/);
    const items = assertConsistent(root);
    assert.ok(items.filter((i) => i.status.includes('ok')).length >= 13);

    // And the original tree can still be had back from the first backup, byte for byte: the files it holds, and
    // none of those a later run created (the next run's kubelet-client-<time>.pem)
    const restore = kpki(['--root', root, 'restore', firstId]);
    assert.equal(restore.status, 0, restore.stderr);
    assert.equal(hashTree(root), originalHash, `restore of ${firstId} did not give back the tree as it was`);
  });
}
