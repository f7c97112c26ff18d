import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spectralEmbedding, standInModality, type KnnGraph } from '../../src/data/index.js';
import { symmetricEigen } from '../../src/data/standin.js';

/** A cycle of n items, each item's kNN row being [itself, next, previous] with similarity 1. */
function ring(n: number, offset = 0): { idx: number[]; sim: number[] } {
  const idx: number[] = [];
  for (let i = 0; i < n; i++) idx.push(offset + i, offset + ((i + 1) % n), offset + ((i + n - 1) % n));
  return { idx, sim: idx.map(() => 1) };
}

function graph(parts: { idx: number[]; sim: number[] }[], k: number): KnnGraph {
  return { k, idx: Int32Array.from(parts.flatMap((p) => p.idx)), sim: Float32Array.from(parts.flatMap((p) => p.sim)) };
}

/** A tiny deterministic generator for test data (a 32-bit LCG; tests must not use Math.random). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * Points around `clusters` random centres in `d` dimensions, and their exact top-k cosine kNN graph (self first),
 * computed by brute force as MMRec's LATTICE code does.
 */
function clusteredKnn(n: number, clusters: number, d: number, k: number): KnnGraph {
  const rand = lcg(7);
  const centres = Array.from({ length: clusters }, () => Array.from({ length: d }, () => rand() - 0.5));
  const points = Array.from({ length: n }, (_, i) => centres[i % clusters].map((c) => c + 0.35 * (rand() - 0.5)));
  const unit = points.map((p) => p.map((v) => v / Math.hypot(...p)));
  const idx: number[] = [];
  const sim: number[] = [];
  for (let i = 0; i < n; i++) {
    const scored = unit.map((q, j) => ({ j, s: q.reduce((acc, v, t) => acc + v * unit[i][t], 0) }));
    scored.sort((a, b) => b.s - a.s || a.j - b.j);
    for (const { j, s } of scored.slice(0, k)) {
      idx.push(j);
      sim.push(s);
    }
  }
  return graph([{ idx, sim }], k);
}

function rowCosine(f: Float32Array, dim: number, i: number, j: number): number {
  let [dot, a, b] = [0, 0, 0];
  for (let c = 0; c < dim; c++) {
    dot += f[i * dim + c] * f[j * dim + c];
    a += f[i * dim + c] ** 2;
    b += f[j * dim + c] ** 2;
  }
  return dot / Math.sqrt(a * b);
}

describe('spectral stand-in features', () => {
  it('finds the closed-form spectrum and eigenvectors of a cycle: λ_j = cos(2πj/n)', () => {
    const n = 40;
    const e = spectralEmbedding(graph([ring(n)], 3), { dim: 5, rounds: 10 });
    const want = [0, 1, 1, 2, 2].map((j) => Math.cos((2 * Math.PI * j) / n));
    e.eigenvalues.forEach((v, c) => assert.ok(Math.abs(v - want[c]) < 1e-9, `λ${c} = ${v}, want ${want[c]}`));
    // Each feature column f satisfies S·f = λ·f, with S·f at item i = (f[i-1] + f[i+1]) / 2 on the cycle.
    for (let c = 0; c < 5; c++) {
      for (let i = 0; i < n; i++) {
        const sf = (e.features[((i + n - 1) % n) * 5 + c] + e.features[((i + 1) % n) * 5 + c]) / 2;
        assert.ok(Math.abs(sf - want[c] * e.features[i * 5 + c]) < 1e-5, `column ${c}, item ${i}`);
      }
    }
    assert.ok(Math.max(...e.residuals) < 1e-8);
  });

  it('gives each connected component its own eigenvalue 1 and separates the components', () => {
    const e = spectralEmbedding(graph([ring(20), ring(20, 20)], 3), { dim: 4, rounds: 10 });
    assert.ok(Math.abs(e.eigenvalues[0] - 1) < 1e-9 && Math.abs(e.eigenvalues[1] - 1) < 1e-9);
    assert.ok(e.eigenvalues[2] < 0.99);
    const key = (i: number) => [e.features[i * 4], e.features[i * 4 + 1]].map((v) => v.toFixed(4)).join();
    for (let i = 1; i < 20; i++) {
      assert.equal(key(i), key(0));
      assert.equal(key(20 + i), key(20));
    }
    assert.notEqual(key(0), key(20));
  });

  it('is deterministic, finite, unit-RMS per column, and does not depend on the seed beyond rounding', () => {
    const g = clusteredKnn(300, 5, 12, 8);
    const a = spectralEmbedding(g, { dim: 16 });
    const b = spectralEmbedding(g, { dim: 16 });
    assert.deepEqual(a.features, b.features);
    assert.ok(a.features.every(Number.isFinite));
    for (let c = 0; c < 16; c++) {
      let ss = 0;
      for (let r = 0; r < 300; r++) ss += a.features[r * 16 + c] ** 2;
      assert.ok(Math.abs(Math.sqrt(ss / 300) - 1) < 1e-5);
    }
    const other = spectralEmbedding(g, { dim: 4, seed: 12345, rounds: 12 });
    const ref = spectralEmbedding(g, { dim: 4, seed: 0, rounds: 12 });
    other.eigenvalues.forEach((v, c) => assert.ok(Math.abs(v - ref.eigenvalues[c]) < 1e-7));
  });

  it('places kNN neighbours closer together than random pairs', () => {
    const n = 400;
    const g = clusteredKnn(n, 8, 16, 10);
    const e = spectralEmbedding(g, { dim: 16 });
    let neighbours = 0;
    let count = 0;
    for (let i = 0; i < n; i++) {
      for (let t = 1; t < g.k; t++) neighbours += rowCosine(e.features, 16, i, g.idx[i * g.k + t]);
      count += g.k - 1;
    }
    const rand = lcg(99);
    let random = 0;
    for (let t = 0; t < count; t++) random += rowCosine(e.features, 16, Math.floor(rand() * n), Math.floor(rand() * n));
    const [near, far] = [neighbours / count, random / count];
    assert.ok(near > far + 0.5, `mean cosine: neighbours ${near.toFixed(3)}, random pairs ${far.toFixed(3)}`);
  });

  it('labels a stand-in modality as such, with the graph attached and its provenance', () => {
    const g = clusteredKnn(100, 4, 8, 5);
    const m = standInModality('image', g, 'image_knn5_idx.npy, image_knn5_sim.npy', { dim: 8 });
    assert.equal(m.standIn, true);
    assert.equal(m.dim, 8);
    assert.equal(m.features.length, 100 * 8);
    assert.equal(m.knn, g);
    assert.match(m.provenance, /^stand-in: spectral embedding of the image kNN graph \(image_knn5_idx\.npy, image_knn5_sim\.npy\), 8 dims/);
  });
});

describe('symmetric eigen-decomposition (Jacobi)', () => {
  it('satisfies A·V = V·Λ with orthonormal V and descending Λ', () => {
    const b = 12;
    const rand = lcg(3);
    const a = new Float64Array(b * b);
    for (let i = 0; i < b; i++) for (let j = 0; j <= i; j++) a[i * b + j] = a[j * b + i] = rand() - 0.5;
    const { values, vectors } = symmetricEigen(a, b);
    for (let c = 1; c < b; c++) assert.ok(values[c] <= values[c - 1]);
    for (let i = 0; i < b; i++) {
      for (let c = 0; c < b; c++) {
        let av = 0;
        let vtv = 0;
        for (let t = 0; t < b; t++) {
          av += a[i * b + t] * vectors[t * b + c];
          vtv += vectors[t * b + i] * vectors[t * b + c];
        }
        assert.ok(Math.abs(av - values[c] * vectors[i * b + c]) < 1e-12);
        assert.ok(Math.abs(vtv - (i === c ? 1 : 0)) < 1e-12);
      }
    }
  });
});
