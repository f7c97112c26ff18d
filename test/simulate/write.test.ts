import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset, readNpy } from '../../src/data/index.js';
import { ConfigError, DataError } from '../../src/errors/index.js';
import { nnz } from '../../src/graph/index.js';
import { GROUND_TRUTH_FILE, readGroundTruth, resolveSettings, simulate, TRUTH_FILES, writeSimulation, type GroundTruth } from '../../src/simulate/index.js';
import { tempDir } from '../helpers/files.js';

const tiny = resolveSettings('tiny');
const data = simulate(tiny, 1);
const root = tempDir('sim');
const dir = join(root, 'simtiny');
const truth = writeSimulation(dir, data, { preset: 'tiny' });

/**
 * The checksum of every data file for `--preset tiny --seed 1` named simtiny (names are hashed too). Draws are Philox counters and the arithmetic is
 * IEEE double in a fixed order, so this is the same on every machine; it changes only when the generator does
 * (then bump GROUND_TRUTH_FORMAT and update this value and docs/simulator.md together).
 */
const TINY_SEED1_CHECKSUM = '70e4df440947ec5a5a569fa64090cab74402aafa68aa15a7b94a9167c5108cb4';

function fileBytes(d: string): Map<string, Buffer> {
  return new Map(readdirSync(d).sort().map((f) => [f, readFileSync(join(d, f))]));
}

test('the same seed writes byte-identical files, pinned by a golden checksum; another seed writes other data', () => {
  const again = join(root, 'again');
  writeSimulation(again, simulate(tiny, 1), { preset: 'tiny', name: 'simtiny' });
  const a = fileBytes(dir);
  const b = fileBytes(again);
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [f, bytes] of a) assert.ok(bytes.equals(b.get(f) as Buffer), `${f} differs`);
  assert.equal(truth.checksum, TINY_SEED1_CHECKSUM);

  const other = join(root, 'other');
  const t2 = writeSimulation(other, simulate(tiny, 2), { name: 'simtiny' });
  assert.notEqual(t2.checksum, truth.checksum);
  const c = fileBytes(other);
  for (const f of ['simtiny.inter', 'image_feat.npy', 'text_feat.npy', TRUTH_FILES.itemEnv]) assert.ok(!a.get(f)?.equals(c.get(f) as Buffer), `${f} is the same for seeds 1 and 2`);
});

test('loadDataset reads the output unchanged: counts, splits and float32 features', async () => {
  const ds = await loadDataset(dir);
  assert.equal(ds.name, 'simtiny');
  assert.equal(ds.nUsers, tiny.users);
  assert.equal(ds.nItems, tiny.items);
  assert.deepEqual(ds.train.users, data.train.users);
  assert.deepEqual(ds.train.items, data.train.items);
  assert.deepEqual(ds.valid.items, data.valid.items);
  assert.deepEqual(ds.test.items, data.test.items);
  assert.deepEqual(ds.modalities.map((m) => [m.name, m.dim, m.standIn]), [
    ['image', tiny.imageDim, false],
    ['text', tiny.textDim, false],
  ]);
  for (const m of ds.modalities) assert.deepEqual(m.features, data.modalities.find((x) => x.name === m.name)?.features);
});

test('the noise flags align with the train edges in trainByUser order, and each flagged edge is a train edge only', async () => {
  const ds = await loadDataset(dir);
  const flags = await readNpy(join(dir, TRUTH_FILES.trainNoise), { kind: 'int', shape: [null] });
  assert.equal(flags.data.length, nnz(ds.trainByUser));
  assert.equal(flags.data.length, ds.train.users.length);
  let j = 0;
  const heldOut = new Set<number>();
  for (const split of [ds.validByUser, ds.testByUser]) {
    for (let u = 0; u < ds.nUsers; u++) for (let k = split.indptr[u]; k < split.indptr[u + 1]; k++) heldOut.add(u * ds.nItems + split.indices[k]);
  }
  const injected = new Set<number>();
  for (let q = 0; q < data.train.noise.length; q++) if (data.train.noise[q] === 1) injected.add(data.train.users[q] * tiny.items + data.train.items[q]);
  let flagged = 0;
  for (let u = 0; u < ds.nUsers; u++) {
    for (let k = ds.trainByUser.indptr[u]; k < ds.trainByUser.indptr[u + 1]; k++, j++) {
      const key = u * ds.nItems + ds.trainByUser.indices[k];
      assert.equal(ds.train.users[j], u); // file order = CSR order
      assert.equal(ds.train.items[j], ds.trainByUser.indices[k]);
      assert.equal(flags.data[j] === 1, injected.has(key), `edge ${j}`);
      if (flags.data[j] === 1) {
        flagged++;
        assert.ok(!heldOut.has(key), `noise edge ${j} is also in valid or test`);
      }
    }
  }
  assert.equal(flagged, injected.size);
  assert.equal(flagged, truth.statistics.counts.trainNoise);
  assert.ok(flagged > 0);
});

test('ground_truth.json records the settings and the sha256 of every file, and the label arrays match', async () => {
  const gt = JSON.parse(readFileSync(join(dir, GROUND_TRUTH_FILE), 'utf8')) as GroundTruth;
  assert.equal(gt.seed, 1);
  assert.equal(gt.preset, 'tiny');
  assert.deepEqual(gt.settings, { ...tiny });
  const listed = Object.keys(gt.files).sort();
  assert.deepEqual(listed, readdirSync(dir).filter((f) => f !== GROUND_TRUTH_FILE).sort());
  for (const f of listed) assert.equal(gt.files[f].sha256, createHash('sha256').update(readFileSync(join(dir, f))).digest('hex'), f);
  const env = await readNpy(join(dir, TRUTH_FILES.itemEnv), { kind: 'int', shape: [tiny.items] });
  assert.deepEqual(env.data, data.itemEnv);
  const w = await readNpy(join(dir, TRUTH_FILES.userEnvWeights), { kind: 'float', shape: [tiny.users, tiny.k] });
  for (let u = 0; u < tiny.users; u++) {
    const row = w.data.subarray(u * tiny.k, (u + 1) * tiny.k).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(row - 1) < 1e-5, `user ${u} weights sum to ${row}`);
  }
});

test('a non-empty folder is refused without force, and nothing in it is touched', () => {
  const busy = tempDir('busy');
  writeFileSync(join(busy, 'keep.txt'), 'mine');
  assert.throws(() => writeSimulation(busy, data), (e: unknown) => e instanceof ConfigError && /not empty.*--force/.test(e.message));
  assert.deepEqual(readdirSync(busy), ['keep.txt']);
  writeSimulation(busy, data, { force: true, name: 'forced' });
  assert.ok(readFileSync(join(busy, 'forced.inter')).equals(readFileSync(join(dir, 'simtiny.inter'))));
  assert.equal(readFileSync(join(busy, 'keep.txt'), 'utf8'), 'mine');
  assert.throws(() => writeSimulation(tempDir('bad'), data, { name: '../escape' }), ConfigError);
});

test('readGroundTruth returns the label arrays and refuses a file whose hash does not match', async () => {
  const gt = await readGroundTruth(dir);
  assert.deepEqual(gt.itemEnv, data.itemEnv);
  assert.deepEqual(gt.trainNoise, Int32Array.from(data.train.noise));
  assert.deepEqual(gt.userEnvWeights, data.userEnvWeights);
  assert.deepEqual(gt.itemExposure, data.itemExposure);
  assert.equal(gt.truth.checksum, truth.checksum);

  const copy = join(root, 'tampered');
  writeSimulation(copy, data, { name: 'simtiny' });
  const flags = join(copy, TRUTH_FILES.trainNoise);
  const bytes = readFileSync(flags);
  bytes[bytes.length - 4] ^= 1; // flip one edge's flag
  writeFileSync(flags, bytes);
  await assert.rejects(readGroundTruth(copy), (e: unknown) => e instanceof DataError && /gt_train_noise\.npy.*sha256 .* does not match/.test(e.message));
  await assert.rejects(readGroundTruth(tempDir('empty')), (e: unknown) => e instanceof DataError && /ground_truth\.json/.test(e.message));
});
