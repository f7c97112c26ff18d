import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/index.js';
import { ConfigError } from '../../src/errors/index.js';
import { GROUND_TRUTH_FILE, PRESETS, resolveSettings, type GroundTruth } from '../../src/simulate/index.js';
import { camrec } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

test('camrec simulate writes a loadable dataset with the flags applied and one JSON line on stdout', async () => {
  const out = join(tempDir('simcli'), 'sim');
  const r = await camrec(['simulate', '--out', out, '--preset', 'tiny', '--seed', '5', '--users', '120', '--items', '90', '--k', '3', '--noise-rate', '0.2', '--snr', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  const res = JSON.parse(lines[0]);
  const gt = JSON.parse(readFileSync(join(out, GROUND_TRUTH_FILE), 'utf8')) as GroundTruth;
  assert.equal(res.checksum, gt.checksum);
  assert.equal(gt.seed, 5);
  assert.deepEqual(
    [gt.settings.users, gt.settings.items, gt.settings.k, gt.settings.noiseRate, gt.settings.snr, gt.settings.imageDim],
    [120, 90, 3, 0.2, 2, PRESETS.tiny.imageDim],
  );
  const ds = await loadDataset(out);
  assert.equal(ds.nUsers, 120);
  assert.equal(ds.nItems, 90);
  assert.equal(ds.train.users.length, res.counts.train);
  assert.equal(gt.statistics.environmentSizes.length, 3);

  // a second run into the same folder is refused (exit 2, one line), and leaves the files as they were
  const again = await camrec(['simulate', '--out', out, '--preset', 'tiny', '--seed', '6']);
  assert.equal(again.code, 2);
  assert.match(again.stderr.trim(), /^camrec: --out .*not empty.*pass --force to write into it$/);
  assert.equal(JSON.parse(readFileSync(join(out, GROUND_TRUTH_FILE), 'utf8')).checksum, gt.checksum);
});

test('bad flags stop with exit code 2 and one line naming the flag, writing nothing', async () => {
  const root = tempDir('simbad');
  const cases: [string[], RegExp][] = [
    [['--users', 'many'], /--users: 'many' is not a number/],
    [['--items', '10.5'], /--items: must be an integer/],
    [['--noise-rate', '1'], /--noise-rate: must be in \[0, 1\)/],
    [['--snr', '0'], /--snr: must be in \(0, /],
    [['--k', '0'], /--k: must be in \[1, /],
    [['--seed', '-3'], /--seed: must be an integer/],
    [['--preset', 'huge'], /--preset: unknown preset 'huge' \(known: default, tiny, large\)/],
  ];
  for (const [flags, why] of cases) {
    const out = join(root, flags[0].slice(2));
    const r = await camrec(['simulate', '--out', out, '--preset', 'tiny', ...flags]);
    assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], why);
  }
  assert.deepEqual(readdirSync(root), []);
  const missing = await camrec(['simulate']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--out/);
});

test('settings are validated in the library too: cross-field limits and unknown keys', () => {
  assert.throws(() => resolveSettings('tiny', { items: 12 }), (e: unknown) => e instanceof ConfigError && /too few/.test(e.message));
  assert.throws(() => resolveSettings('tiny', { meanPerUser: 4 }), /at least minPerUser/);
  assert.throws(() => resolveSettings('tiny', { minPerUser: 3, validFraction: 0.5, testFraction: 0.5 }), /no train edge/);
  assert.throws(() => resolveSettings('tiny', { bogus: 1 } as never), /unknown simulator setting 'bogus'/);
  assert.throws(() => resolveSettings('toString'), /unknown preset/);
  const s = resolveSettings('default', { users: 10 });
  assert.ok(Object.isFrozen(s));
  assert.equal(s.users, 10);
  assert.equal(PRESETS.default.users, 5000);
});
