import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encodeNpy, knnFileNames, loadDataset, type Dataset } from '../../src/data/index.js';
import type { Csr } from '../../src/graph/csr.js';
import { REPO_ROOT, SHARED_DATASETS, assertDataError, npyBytes, put, tempDir } from './helpers.js';

const HEADER = 'userID\titemID\trating\ttimestamp\tx_label';

/** A dataset folder `<tmp>/<name>` holding `<name>.inter` with these (user, item, label) rows, plus `files`. */
function folder(rows: [number, number, number][], files: Record<string, Uint8Array> = {}, name = 'toy'): string {
  const dir = join(tempDir(), name);
  mkdirSync(dir);
  put(dir, `${name}.inter`, [HEADER, ...rows.map(([u, i, l]) => `${u}\t${i}\t1\t0\t${l}`)].join('\n') + '\n');
  for (const [file, bytes] of Object.entries(files)) put(dir, file, bytes);
  return dir;
}

/** 3 users, items 0..3. */
const ROWS: [number, number, number][] = [
  [0, 2, 0],
  [0, 1, 0],
  [0, 2, 0], // a duplicate training pair
  [1, 3, 0],
  [2, 0, 0],
  [0, 3, 1],
  [1, 0, 2],
];

const features = (rows: number, dim: number, fill = (i: number) => i / 10) => encodeNpy(Float32Array.from({ length: rows * dim }, (_, i) => fill(i)), [rows, dim]);

/** Rows of a CSR matrix as arrays. */
function rowsOf(m: Csr): number[][] {
  return Array.from({ length: m.nRows }, (_, r) => Array.from(m.indices.subarray(m.indptr[r], m.indptr[r + 1])));
}

/** Checks the counts of SOURCE.md/README.md and the invariants every loaded dataset must keep. */
function checkCounts(d: Dataset, users: number, items: number, splits: [number, number, number]): void {
  assert.deepEqual([d.nUsers, d.nItems], [users, items]);
  assert.deepEqual([d.train.users.length, d.valid.users.length, d.test.users.length], splits);
  // The shared datasets have no duplicate pairs, so every CSR keeps every interaction, sorted within its row.
  const csrs = [d.trainByUser, d.validByUser, d.testByUser];
  csrs.forEach((m, s) => {
    assert.deepEqual([m.nRows, m.nCols, m.indices.length], [users, items, splits[s]]);
    for (const row of rowsOf(m)) for (let t = 1; t < row.length; t++) assert.ok(row[t - 1] < row[t]);
  });
  for (const m of d.modalities) assert.equal(m.features.length, items * m.dim);
  assert.match(d.checksum, /^[0-9a-f]{64}$/);
}

function meanCosine(m: Dataset['modalities'][number], pairs: [number, number][]): number {
  const { features: f, dim } = m;
  const cos = ([i, j]: [number, number]) => {
    let [dot, a, b] = [0, 0, 0];
    for (let c = 0; c < dim; c++) [dot, a, b] = [dot + f[i * dim + c] * f[j * dim + c], a + f[i * dim + c] ** 2, b + f[j * dim + c] ** 2];
    return dot / Math.sqrt(a * b);
  };
  return pairs.reduce((acc, p) => acc + cos(p), 0) / pairs.length;
}

describe('loadDataset on the real data', () => {
  it('loads the bundled TikTok set: counts, float16 image and audio features, no stand-ins', async () => {
    const d = await loadDataset(join(REPO_ROOT, 'data/tiktok'));
    checkCounts(d, 9308, 6710, [59541, 3051, 6130]);
    assert.equal(d.name, 'tiktok');
    assert.deepEqual(
      d.modalities.map((m) => [m.name, m.dim, m.standIn, m.provenance]),
      [
        ['image', 128, false, 'image_feat.npy, <f2 [6710, 128]'],
        ['audio', 128, false, 'audio_feat.npy, <f2 [6710, 128]'],
      ],
    );
    // 10 users have no training interaction (SOURCE.md).
    assert.equal(rowsOf(d.trainByUser).filter((r) => r.length === 0).length, 10);
    assert.equal((await loadDataset(join(REPO_ROOT, 'data/tiktok'))).checksum, d.checksum);
  });

  it('loads Baby, building 64-d stand-ins from its kNN graphs in which neighbours are closer than random pairs', async () => {
    const d = await loadDataset(join(SHARED_DATASETS, 'baby'));
    checkCounts(d, 19445, 7050, [118551, 20559, 21682]);
    assert.deepEqual(d.modalities.map((m) => [m.name, m.dim, m.standIn, m.knn?.k]), [['image', 64, true, 10], ['text', 64, true, 10]]);
    for (const m of d.modalities) {
      assert.match(m.provenance, new RegExp(`^stand-in: spectral embedding of the ${m.name} kNN graph \\(${m.name}_knn10_idx\\.npy`));
      assert.ok(m.features.every(Number.isFinite));
      const g = m.knn!;
      const neighbours: [number, number][] = [];
      for (let i = 0; i < d.nItems; i += 7) for (let t = 1; t < g.k; t++) neighbours.push([i, g.idx[i * g.k + t]]);
      const random = neighbours.map(([i], t): [number, number] => [i, (i * 7919 + t * 104729) % d.nItems]);
      const [near, far] = [meanCosine(m, neighbours), meanCosine(m, random)];
      assert.ok(near > far + 0.3, `${m.name}: neighbours ${near.toFixed(3)}, random pairs ${far.toFixed(3)}`);
    }
  });

  it('loads every shared dataset with the counts of its README', async () => {
    const expected: [string, number, number, [number, number, number], string[]][] = [
      ['sports', 35598, 18357, [218409, 37899, 40029], ['image', 'text']],
      ['clothing', 39387, 23033, [197338, 41189, 40150], []],
      ['microlens-50k', 49075, 17228, [250111, 50543, 51991], ['image', 'text']],
    ];
    for (const [name, users, items, splits, modalities] of expected) {
      const d = await loadDataset(join(SHARED_DATASETS, name), { standInDim: 8 });
      checkCounts(d, users, items, splits);
      assert.deepEqual(d.modalities.map((m) => [m.name, m.dim, m.standIn]), modalities.map((m) => [m, 8, true]));
    }
  });
});

describe('loadDataset on small folders', () => {
  it('builds sorted, deduplicated user × item matrices and keeps the raw splits', async () => {
    const d = await loadDataset(folder(ROWS));
    assert.deepEqual([d.nUsers, d.nItems], [3, 4]);
    assert.equal(d.train.users.length, 5);
    assert.deepEqual(rowsOf(d.trainByUser), [[1, 2], [3], [0]]);
    assert.deepEqual(rowsOf(d.validByUser), [[3], [], []]);
    assert.deepEqual(rowsOf(d.testByUser), [[], [0], []]);
    assert.deepEqual(d.modalities, []);
  });

  it('takes nItems from feature files with more rows than item ids, and reads float16 features', async () => {
    const half = npyBytes('<f2', [6, 1], Uint8Array.from([0, 0x3c, 0, 0x40, 0, 0x42, 0, 0x44, 0, 0x45, 0, 0x46]));
    const d = await loadDataset(folder(ROWS, { 'image_feat.npy': features(6, 2), 'text_feat.npy': half }));
    assert.equal(d.nItems, 6);
    assert.equal(d.trainByUser.nCols, 6);
    assert.deepEqual(d.modalities.map((m) => m.name), ['image', 'text']);
    assert.deepEqual(d.modalities[1].features, Float32Array.from([1, 2, 3, 4, 5, 6]));
  });

  it('uses the name option to find the .inter file, and says which .inter files exist when it is missing', async () => {
    const dir = folder(ROWS, {}, 'toy');
    assert.equal((await loadDataset(dir, { name: 'toy' })).name, 'toy');
    await assertDataError(() => loadDataset(dir, { name: 'baby' }), { file: join(dir, 'baby.inter') }, /interaction file not found \(the folder has toy\.inter; pass its name\)/);
    await assertDataError(() => loadDataset(join(dir, 'nope')), { file: join(dir, 'nope') }, /cannot list the dataset folder/);
  });

  it('refuses a feature file with fewer rows than there are items, naming the file and the item', async () => {
    const dir = folder(ROWS, { 'image_feat.npy': features(3, 2) });
    await assertDataError(() => loadDataset(dir), { file: join(dir, 'image_feat.npy'), field: 'shape' }, new RegExp(`3 rows \\(one per item\\), but ${join(dir, 'toy.inter')} line 5 has item id 3`));
    const two = folder(ROWS, { 'image_feat.npy': features(5, 2), 'audio_feat.npy': features(6, 2) });
    await assertDataError(() => loadDataset(two), { file: join(two, 'image_feat.npy'), field: 'shape' }, /5 rows \(one per item\), but .*audio_feat\.npy has 6 rows/);
  });

  it('refuses NaN or infinite features, naming the row and column', async () => {
    const nan = folder(ROWS, { 'image_feat.npy': features(4, 3, (i) => (i === 7 ? NaN : 1)) });
    await assertDataError(() => loadDataset(nan), { file: join(nan, 'image_feat.npy'), field: 'row 2, column 1' }, /NaN is not finite/);
    const inf = folder(ROWS, { 'text_feat.npy': npyBytes('<f2', [4, 1], Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0x7c])) });
    await assertDataError(() => loadDataset(inf), { file: join(inf, 'text_feat.npy'), field: 'row 3, column 0' }, /Infinity is not finite/);
  });

  it('refuses features that are not a 2-D float array with columns', async () => {
    const cases: [Uint8Array, string, RegExp][] = [
      [encodeNpy(new Float32Array(4), [4]), 'shape', /shape \(4,\) does not match the expected \(\*, \*\)/],
      [encodeNpy(new Int32Array(8), [4, 2]), 'descr', /dtype <i4 is not a floating-point type/],
      [encodeNpy(new Float32Array(0), [4, 0]), 'shape', /features have 0 columns/],
    ];
    for (const [bytes, field, reason] of cases) {
      const dir = folder(ROWS, { 'audio_feat.npy': bytes });
      await assertDataError(() => loadDataset(dir), { file: join(dir, 'audio_feat.npy'), field }, reason);
    }
  });

  it('builds a stand-in for a modality with only a kNN graph, attaches the graph and logs it', async () => {
    const names = knnFileNames('text', 2);
    const idx = encodeNpy(Int32Array.from([0, 1, 1, 2, 2, 3, 3, 0]), [4, 2]);
    const sim = encodeNpy(Float32Array.from([1, 0.5, 1, 0.5, 1, 0.5, 1, 0.5]), [4, 2]);
    const logged: string[] = [];
    const logger = { info: (obj: object, msg: string) => logged.push(`${msg} ${JSON.stringify(obj)}`) };
    const d = await loadDataset(folder(ROWS, { 'image_feat.npy': features(4, 3), [names.idx]: idx, [names.sim]: sim }), { standInDim: 3, logger });
    assert.deepEqual(d.modalities.map((m) => [m.name, m.dim, m.standIn]), [['image', 3, false], ['text', 3, true]]);
    assert.deepEqual(d.modalities[1].knn?.idx, Int32Array.from([0, 1, 1, 2, 2, 3, 3, 0]));
    assert.equal(logged.length, 1);
    assert.match(logged[0], /^built stand-in text features from its kNN graph .*"modality":"text"/);
  });

  it('refuses a kNN graph whose row count disagrees with the items, or one without its sim file', async () => {
    const names = knnFileNames('image', 2);
    const idx = encodeNpy(Int32Array.from([0, 1, 1, 0, 2, 1]), [3, 2]);
    const sim = encodeNpy(Float32Array.from([1, 1, 1, 1, 1, 1]), [3, 2]);
    const dir = folder(ROWS, { [names.idx]: idx, [names.sim]: sim });
    await assertDataError(() => loadDataset(dir), { file: join(dir, names.idx), field: 'shape' }, /3 rows \(one per item\), but .*toy\.inter line 5 has item id 3/);
    const lone = folder(ROWS, { [names.idx]: idx });
    await assertDataError(() => loadDataset(lone), { file: join(lone, names.sim) }, /missing: image_knn2_idx\.npy is present but its pair is not/);
  });

  it('has a checksum that covers every file read and nothing else', async () => {
    const base = await loadDataset(folder(ROWS, { 'image_feat.npy': features(4, 2) }));
    const same = await loadDataset(folder(ROWS, { 'image_feat.npy': features(4, 2), 'notes.txt': new Uint8Array(3) }));
    const changed = await loadDataset(folder(ROWS, { 'image_feat.npy': features(4, 2, (i) => (i === 5 ? 9 : i / 10)) }));
    const noFeatures = await loadDataset(folder(ROWS));
    assert.equal(same.checksum, base.checksum);
    assert.notEqual(changed.checksum, base.checksum);
    assert.notEqual(noFeatures.checksum, base.checksum);
  });
});
