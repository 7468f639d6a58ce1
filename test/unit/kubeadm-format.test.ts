// kubeadm's check-expiration formats: the text must be what scripts grep, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { kubeadmDate, kubeadmText, shortHumanDuration, CertificateExpirationInfo } from '../../src/report/kubeadm-format.js';
import { tabwrite } from '../../src/report/tabwriter.js';

test('ShortHumanDuration as apimachinery computes it', () => {
  assert.equal(shortHumanDuration(-5), '<invalid>');
  assert.equal(shortHumanDuration(-1), '0s');
  assert.equal(shortHumanDuration(59), '59s');
  assert.equal(shortHumanDuration(3599), '59m');
  assert.equal(shortHumanDuration(86399), '23h');
  assert.equal(shortHumanDuration(364 * 86400 + 3600), '364d');
  assert.equal(shortHumanDuration(365 * 86400 * 9 + 86400 * 300), '9y');
});

test('Go date layout "Jan 02, 2006 15:04 MST" in UTC', () => {
  assert.equal(kubeadmDate(new Date('2020-12-30T23:36:59Z')), 'Dec 30, 2020 23:36 UTC');
  assert.equal(kubeadmDate(new Date('2026-08-09T03:04:00Z')), 'Aug 09, 2026 03:04 UTC');
});

const sample = (): CertificateExpirationInfo => ({
  kind: 'CertificateExpirationInfo',
  apiVersion: 'output.kubeadm.k8s.io/v1alpha3',
  certificates: [
    {
      name: 'admin.conf',
      expirationDate: '2026-08-19T09:03:00Z',
      residualTime: 360 * 86400 + 100,
      caName: 'ca',
      externallyManaged: false,
      missing: false,
    },
    {
      name: 'apiserver-kubelet-client',
      expirationDate: '2026-08-19T09:03:00Z',
      residualTime: 360 * 86400 + 100,
      caName: 'ca',
      externallyManaged: false,
      missing: false,
    },
    { name: 'super-admin.conf', externallyManaged: false, missing: true },
  ],
  certificateAuthorities: [
    { name: 'ca', expirationDate: '2035-08-17T09:03:00Z', residualTime: 9 * 365 * 86400 + 5000, externallyManaged: false, missing: false },
  ],
});

test('text output equals kubeadm 1.29 output byte for byte (trailing blanks included)', () => {
  const info = sample();
  info.certificates = info.certificates.filter((c) => !c.missing);
  const expected = [
    'CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED',
    'admin.conf                 Aug 19, 2026 09:03 UTC   360d            ca                      no      ',
    'apiserver-kubelet-client   Aug 19, 2026 09:03 UTC   360d            ca                      no      ',
    '',
    'CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED',
    'ca                      Aug 17, 2035 09:03 UTC   9y              no      ',
    '',
  ].join('\n');
  assert.equal(kubeadmText(info), expected);
});

test("a missing row is one cell wide in the first column, as Go's tabwriter lays it out", () => {
  const lines = kubeadmText(sample()).split('\n');
  assert.equal(lines[0], 'CERTIFICATE'.padEnd(29) + 'EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED');
  assert.equal(lines[3], '!MISSING! super-admin.conf'.padEnd(29) + ' '.repeat(25 + 16 + 24));
});

test('the date regex of the widely copied renewal script finds every date, and date -d reads it', () => {
  const regex = /[A-Za-z]{3,4}\s\w\w,\s[0-9]{4,}\s\w*:\w*\s\w*/g;
  const dates = kubeadmText(sample()).match(regex) ?? [];
  assert.equal(dates.length, 3);
  for (const date of dates) {
    const r = spawnSync('date', ['-u', '-d', date, '+%s'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `date -d "${date}": ${r.stderr}`);
    assert.ok(Number(r.stdout) > 1_700_000_000);
  }
});

test('tabwriter: column blocks end at lines with fewer cells, as in Go', () => {
  const out = tabwrite('a\tbb\tc\nlonger\tx\ty\n\nq\tr\n', { minwidth: 0, tabwidth: 8, padding: 1, padchar: ' ' });
  assert.equal(out, 'a      bb c\nlonger x  y\n\nq r\n');
});
