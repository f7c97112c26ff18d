import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encodeNpy, findKnnFiles, knnFileNames, readKnn } from '../../src/data/index.js';
import { assertDataError, put, tempDir } from './helpers.js';

/** Writes `<mod>_knn<k>_{idx,sim}.npy` for the given rows into a new folder. */
function knnFolder(idx: number[][], sim: number[][], k = idx[0].length, mod = 'image'): string {
  const dir = tempDir();
  const names = knnFileNames(mod, k);
  put(dir, names.idx, encodeNpy(Int32Array.from(idx.flat()), [idx.length, idx[0].length]));
  put(dir, names.sim, encodeNpy(Float32Array.from(sim.flat()), [sim.length, sim[0]?.length ?? 0]));
  return dir;
}

const IDX = [
  [0, 1, 2],
  [1, 0, 2],
  [2, 1, 0],
];
const SIM = [
  [1, 0.5, 0.25],
  [1, 0.5, 0.125],
  [1, 0.75, 0.25],
];

describe('kNN graphs', () => {
  it('reads idx and sim as [nItems, k] arrays', async () => {
    const g = await readKnn(knnFolder(IDX, SIM), knnFileNames('image', 3));
    assert.equal(g.k, 3);
    assert.deepEqual(g.idx, Int32Array.from(IDX.flat()));
    assert.deepEqual(g.sim, Float32Array.from(SIM.flat()));
  });

  it('finds one graph per modality and refuses an unpaired file or two values of k', async () => {
    assert.deepEqual(findKnnFiles('/d', ['text_knn10_sim.npy', 'a.inter', 'text_knn10_idx.npy', 'text_knn10_normw.npy']), [knnFileNames('text', 10)]);
    await assertDataError(() => findKnnFiles('/d', ['image_knn10_idx.npy']), { file: join('/d', 'image_knn10_sim.npy') }, /missing: image_knn10_idx\.npy is present but its pair is not/);
    await assertDataError(() => findKnnFiles('/d', ['image_knn5_sim.npy']), { file: join('/d', 'image_knn5_idx.npy') }, /missing: image_knn5_sim\.npy is present/);
    await assertDataError(
      () => findKnnFiles('/d', ['text_knn10_idx.npy', 'text_knn10_sim.npy', 'text_knn20_idx.npy', 'text_knn20_sim.npy']),
      { file: join('/d', 'text_knn*_idx.npy') },
      /several text kNN graphs \(k = 10, 20\); keep one/,
    );
  });

  it('refuses a neighbour outside [0, nItems)', async () => {
    const dir = knnFolder([[0, 1, 2], [1, 3, 0], [2, 1, 0]], SIM);
    const file = join(dir, 'image_knn3_idx.npy');
    await assertDataError(() => readKnn(dir, knnFileNames('image', 3)), { file, field: 'row 1, column 1' }, /neighbour 3 is not an item id in \[0, 3\)/);
    const neg = knnFolder([[0, 1, 2], [1, 2, 0], [2, -1, 0]], SIM);
    await assertDataError(() => readKnn(neg, knnFileNames('image', 3)), { file: join(neg, 'image_knn3_idx.npy'), field: 'row 2, column 1' }, /neighbour -1/);
  });

  it('refuses a similarity that is not finite', async () => {
    const dir = knnFolder(IDX, [[1, 0.5, 0.25], [1, 0.5, 0.125], [1, NaN, 0.25]]);
    await assertDataError(() => readKnn(dir, knnFileNames('image', 3)), { file: join(dir, 'image_knn3_sim.npy'), field: 'row 2, column 1' }, /NaN is not finite/);
  });

  it('refuses shapes that disagree with each other or with k in the file name', async () => {
    const rows = knnFolder(IDX, SIM.slice(0, 2));
    await assertDataError(() => readKnn(rows, knnFileNames('image', 3)), { file: join(rows, 'image_knn3_sim.npy'), field: 'shape' }, /2 rows, but .*image_knn3_idx\.npy has 3/);
    const k = knnFolder(IDX, SIM, 4);
    await assertDataError(() => readKnn(k, knnFileNames('image', 4)), { file: join(k, 'image_knn4_idx.npy'), field: 'shape' }, /shape \(3, 3\) does not match the expected \(\*, 4\)/);
    const dtype = tempDir();
    put(dtype, 'image_knn3_idx.npy', encodeNpy(Float32Array.from(IDX.flat()), [3, 3]));
    put(dtype, 'image_knn3_sim.npy', encodeNpy(Float32Array.from(SIM.flat()), [3, 3]));
    await assertDataError(() => readKnn(dtype, knnFileNames('image', 3)), { file: join(dtype, 'image_knn3_idx.npy'), field: 'descr' }, /dtype <f4 is not an integer type/);
  });
});
