import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachIsa, nativeFor } from './fixtures.js';

/** A dense grid over [-12, 12], tiny values around the 4e-4 switch, the clamp at ±7.905, ±0, ±∞. */
function inputs(): Float32Array {
  const grid = Array.from({ length: 240_001 }, (_, i) => -12 + i / 10_000);
  const special = [0, -0, 1e-30, -1e-30, 1e-8, 3.99e-4, 4.01e-4, -4.01e-4, 7.9053, 7.9054, -7.9054, 9, 50, Infinity, -Infinity];
  return Float32Array.from([...grid, ...special]);
}

test('tanh is within 4e-7 relative (about 7 float32 ulp) of Math.tanh, odd, and keeps NaN, for each instruction set', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const x = inputs();
  forEachIsa(native, (isa) => {
    const out = new Float32Array(x.length);
    native.tanh(x, out, 1);
    for (let i = 0; i < x.length; i++) {
      const ref = Math.tanh(x[i]);
      assert.ok(Math.abs(out[i] - ref) <= 4e-7 * Math.abs(ref), `${isa}: tanh(${x[i]}) = ${out[i]}, expected ${ref}`);
    }
    const neg = new Float32Array(x.length);
    native.tanh(x.map((v) => -v), neg, 1);
    neg.forEach((v, i) => assert.equal(v, -out[i], `${isa}: odd at ${x[i]}`));
    const nan = new Float32Array(3);
    native.tanh(Float32Array.of(Number.NaN, 1, Number.NaN), nan, 1);
    assert.ok(Number.isNaN(nan[0]) && Number.isNaN(nan[2]) && Math.abs(nan[1] - Math.tanh(1)) < 5e-7, `${isa}: NaN`);
  });
});

test('tanh gives the same bits on any number of threads and in place', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const x = inputs();
  const one = new Float32Array(x.length);
  native.tanh(x, one, 1);
  for (const threads of [2, 3, 16]) {
    const out = new Float32Array(x.length);
    native.tanh(x, out, threads);
    assert.deepEqual(out, one, `${threads} threads`);
  }
  const inPlace = Float32Array.from(x);
  native.tanh(inPlace, inPlace, 2);
  assert.deepEqual(inPlace, one);
});

test('tanh refuses mismatched or partly overlapping arrays', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const x = new Float32Array(8);
  assert.throws(() => native.tanh(x, new Float32Array(7), 1), RangeError);
  assert.throws(() => native.tanh(x.subarray(0, 4), x.subarray(2, 6), 1), RangeError);
  assert.throws(() => native.tanh(x, new Float32Array(8), 0), RangeError);
  assert.throws(() => native.tanh([1, 2] as unknown as Float32Array, new Float32Array(2), 1), TypeError);
});

/** A dense grid over [-110, 100] (both ends outside the polynomial's range), the range's edges, ±0, ±∞. */
function expInputs(): Float32Array {
  const grid = Array.from({ length: 210_001 }, (_, i) => -110 + i / 1000);
  const special = [0, -0, 1e-30, -87, -87.001, 88, 88.001, 88.72, 88.73, -103.9, -104, -150, Infinity, -Infinity];
  return Float32Array.from([...grid, ...special]);
}

test('exp is within one float32 ulp of Math.exp, denormals within one ulp, 0 and ∞ exact, keeps NaN, for each ISA', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const x = expInputs();
  forEachIsa(native, (isa) => {
    const out = new Float32Array(x.length);
    native.exp(x, out, 1);
    for (let i = 0; i < x.length; i++) {
      const ref = Math.exp(x[i]);
      const rounded = Math.fround(ref);
      if (rounded === 0 || rounded === Infinity) assert.equal(out[i], rounded, `${isa}: exp(${x[i]})`);
      else if (rounded < 2 ** -126) assert.ok(Math.abs(out[i] - ref) <= 2 ** -149, `${isa}: exp(${x[i]}) = ${out[i]}, a denormal, expected ${ref}`);
      else assert.ok(Math.abs(out[i] - ref) <= 2 ** -23 * ref, `${isa}: exp(${x[i]}) = ${out[i]}, expected ${ref}`);
    }
    const nan = new Float32Array(9);
    native.exp(Float32Array.of(1, 2, Number.NaN, 3, 4, 5, 6, 7, Number.NaN), nan, 1);
    assert.ok(Number.isNaN(nan[2]) && Number.isNaN(nan[8]) && Math.abs(nan[0] - Math.E) < 3e-7, `${isa}: NaN`);
  });
});

test('exp gives the same bits on any number of threads and in place, and refuses mismatched arrays', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const x = expInputs();
  const one = new Float32Array(x.length);
  native.exp(x, one, 1);
  for (const threads of [2, 3, 16]) {
    const out = new Float32Array(x.length);
    native.exp(x, out, threads);
    assert.deepEqual(out, one, `${threads} threads`);
  }
  const inPlace = Float32Array.from(x);
  native.exp(inPlace, inPlace, 2);
  assert.deepEqual(inPlace, one);
  assert.throws(() => native.exp(x, new Float32Array(7), 1), RangeError);
  assert.throws(() => native.exp(x.subarray(0, 4), x.subarray(2, 6), 1), RangeError);
});

test('expShiftedRows gives each row max(scale·z), exp(scale·z − max) in place and its sum, for each ISA', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const [rows, cols, scale] = [7, 37, 5];
  const z0 = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 1.7) * (i % 5 === 0 ? 30 : 1));
  forEachIsa(native, (isa) => {
    const z = Float32Array.from(z0);
    const [max, sums] = [new Float32Array(rows), new Float32Array(rows)];
    native.expShiftedRows(z, rows, cols, scale, max, sums);
    for (let r = 0; r < rows; r++) {
      const row = Array.from(z0.subarray(r * cols, (r + 1) * cols), (v) => Math.fround(scale * v));
      const m = Math.max(...row);
      assert.equal(max[r], m, `${isa}: max of row ${r}`);
      let sum = 0;
      row.forEach((v, s) => {
        const e = Math.exp(v - m);
        sum += e;
        // scale·z − m may round once (FMA) or twice: exp carries the argument's rounding, |x|·2^-24 relative
        assert.ok(Math.abs(z[r * cols + s] - e) <= 2 ** -23 * e * (1 + Math.abs(v - m)) + 2 ** -149, `${isa}: (${r}, ${s})`);
      });
      assert.ok(Math.abs(sums[r] - sum) <= 1e-6 * sum, `${isa}: sum of row ${r}`);
    }
  });
  const z = new Float32Array(6);
  assert.throws(() => native.expShiftedRows(z, 2, 4, 1, new Float32Array(2), new Float32Array(2)), RangeError);
  assert.throws(() => native.expShiftedRows(z, 2, 3, 1, new Float32Array(1), new Float32Array(2)), RangeError);
  assert.throws(() => native.expShiftedRows(z, 2, 3, 1, z.subarray(0, 2), new Float32Array(2)), RangeError);
});

test('columnSums equals exact column sums on integer data and rounds float sums once, for each ISA', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  forEachIsa(native, (isa) => {
    for (const [rows, cols] of [[1, 1], [7050, 64], [3, 300], [0, 5], [5, 0]]) {
      const ints = Float32Array.from({ length: rows * cols }, (_, i) => (i * 7919) % 2001 - 1000);
      const floats = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i));
      for (const [x, scale] of [[ints, 1], [floats, 1 / Math.max(rows, 1)]] as const) {
        const out = new Float32Array(cols);
        native.columnSums(x, rows, cols, scale, out);
        for (let j = 0; j < cols; j++) {
          let sum = 0;
          for (let r = 0; r < rows; r++) sum += x[r * cols + j];
          assert.equal(out[j], Math.fround(sum * scale), `${isa}: ${rows}×${cols}, column ${j}`);
        }
      }
    }
  });
  const x = new Float32Array(6);
  assert.throws(() => native.columnSums(x, 2, 4, 1, new Float32Array(4)), RangeError);
  assert.throws(() => native.columnSums(x, 2, 3, 1, new Float32Array(2)), RangeError);
  assert.throws(() => native.columnSums(x, 2, 3, 1, x.subarray(0, 3)), RangeError);
});

test('scatterAddRows adds rows into their segments in order (the same bits as float32 adds), dropping negative ids', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  forEachIsa(native, (isa) => {
    for (const [n, inner, segments] of [[1, 1, 1], [2048, 64, 7050], [300, 13, 20], [0, 5, 3]]) {
      const x = Float32Array.from({ length: n * inner }, (_, i) => Math.sin(i));
      const ids = Int32Array.from({ length: n }, (_, i) => (i % 11 === 3 ? -1 : (i * 7919) % segments));
      const out = new Float32Array(segments * inner).fill(0.5);
      native.scatterAddRows(x, ids, inner, out);
      const ref = new Float32Array(segments * inner).fill(0.5);
      for (let i = 0; i < n; i++) if (ids[i] >= 0) for (let k = 0; k < inner; k++) ref[ids[i] * inner + k] += x[i * inner + k];
      assert.deepEqual(out, ref, `${isa}: ${n} rows of ${inner} into ${segments}`);
    }
  });
  const x = new Float32Array(6);
  assert.throws(() => native.scatterAddRows(x, Int32Array.of(0, 1), 2, new Float32Array(4)), RangeError);
  assert.throws(() => native.scatterAddRows(x, Int32Array.of(0, 2), 3, new Float32Array(6)), RangeError);
  assert.throws(() => native.scatterAddRows(x, Int32Array.of(0, 1), 3, new Float32Array(5)), RangeError);
  assert.throws(() => native.scatterAddRows(x, Int32Array.of(0, 1), 3, x), RangeError);
});

test('gatherScaled and scatterScaled give the bits of the TypeScript loops they replace', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  forEachIsa(native, (isa) => {
    const [n, size] = [5000, 700];
    const values = Float32Array.from({ length: size }, (_, i) => Math.sin(i));
    const ids = Int32Array.from({ length: n }, (_, p) => (p * 7919) % size);
    const scale = Float32Array.from({ length: n }, (_, p) => Math.cos(p));
    const gathered = new Float32Array(n);
    native.gatherScaled(values, ids, scale, gathered);
    const refGather = Float32Array.from({ length: n }, (_, p) => scale[p] * values[ids[p]]);
    assert.deepEqual(gathered, refGather, `${isa}: gather`);
    const scattered = new Float32Array(size).fill(0.25);
    native.scatterScaled(gathered, ids, scale, scattered);
    const refScatter = new Float32Array(size).fill(0.25);
    for (let p = 0; p < n; p++) refScatter[ids[p]] += scale[p] * gathered[p];
    assert.deepEqual(scattered, refScatter, `${isa}: scatter`);
  });
  const v = new Float32Array(4);
  assert.throws(() => native.gatherScaled(v, Int32Array.of(0, 4), new Float32Array(2), new Float32Array(2)), RangeError);
  assert.throws(() => native.gatherScaled(v, Int32Array.of(0, 1), new Float32Array(3), new Float32Array(2)), RangeError);
  assert.throws(() => native.scatterScaled(new Float32Array(2), Int32Array.of(0, -1), new Float32Array(2), v), RangeError);
  assert.throws(() => native.scatterScaled(v.subarray(0, 2), Int32Array.of(0, 1), new Float32Array(2), v), RangeError);
});

test('layerMean and layerGradient give the bits of the float32 adds and division they replace', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const size = 1003;
  const f = Math.fround;
  const layers = [0, 1, 2].map((k) => Float32Array.from({ length: size }, (_, i) => Math.sin(i * (k + 1.3)) * 10 ** ((i % 9) - 4)));
  const mean = new Float32Array(size);
  native.layerMean(layers, 3, mean);
  assert.deepEqual(mean, Float32Array.from(layers[0], (v, i) => f(f(f(v + layers[1][i]) + layers[2][i]) / 3)), 'mean, a new array');
  const inPlace = Float32Array.from(layers[2]);
  native.layerMean([layers[0], layers[1], inPlace], 3, inPlace);
  assert.deepEqual(inPlace, mean, 'mean into the last layer');
  const [dLayer, dMean, acc] = layers;
  const out = Float32Array.from(acc);
  native.layerGradient(dLayer, dMean, 3, 1, out);
  assert.deepEqual(out, Float32Array.from(acc, (v, i) => f(f(dLayer[i] + f(dMean[i] / 3)) + v)), '(dLayer + dMean/3) + out');
  native.layerGradient(null, dMean, 3, 0, out);
  assert.deepEqual(out, Float32Array.from(dMean, (v) => f(v / 3)), 'dMean/3');
  const v = new Float32Array(4);
  assert.throws(() => native.layerMean([], 3, v), RangeError);
  assert.throws(() => native.layerMean([v, new Float32Array(3)], 3, v), RangeError);
  const shared = new Float32Array(8);
  assert.throws(() => native.layerMean([shared.subarray(1, 5)], 3, shared.subarray(0, 4)), RangeError);
  assert.throws(() => native.layerGradient(null, v, 3, 1, v), RangeError);
  assert.throws(() => native.layerGradient(new Float32Array(3), new Float32Array(4), 3, 1, v), RangeError);
});

test('rowSums gives the bits of float32 sums in column order, rows of any count', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  for (const [rows, cols] of [[0, 3], [1, 1], [7, 5], [8, 64], [19, 13], [5, 0]]) {
    const x = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 1.7) * 10 ** ((i % 7) - 3));
    const out = new Float32Array(rows).fill(Number.NaN);
    native.rowSums(x, rows, cols, out);
    const ref = Float32Array.from({ length: rows }, (_, r) => {
      let s = 0;
      for (let j = 0; j < cols; j++) s = Math.fround(s + x[r * cols + j]);
      return s;
    });
    assert.deepEqual(out, ref, `${rows}×${cols}`);
  }
  assert.throws(() => native.rowSums(new Float32Array(6), 2, 4, new Float32Array(2)), RangeError);
  assert.throws(() => native.rowSums(new Float32Array(6), 2, 3, new Float32Array(3)), RangeError);
});

test('concreteGate and concreteGateGrad give the same bits on any number of threads, with and without noise', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const n = 100_003; // above the split threshold, not a multiple of the parts
  const logits = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 4);
  const uniforms = Float32Array.from({ length: n }, (_, i) => Math.fround((((i * 2654435761) % 2 ** 32) + 0.5) / 2 ** 32));
  const dy = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
  for (const u of [uniforms, null]) {
    const rho = (threads: number) => {
      const out = new Float32Array(n);
      native.concreteGate(logits, u, 0.2, out, threads);
      return out;
    };
    const one = rho(1);
    assert.ok(one.every((v) => v >= 0 && v <= 1) && one.some((v) => v > 0 && v < 1));
    const grad = (threads: number) => {
      const out = new Float32Array(n);
      native.concreteGateGrad(dy, one, 0.2, out, threads);
      return out;
    };
    const gOne = grad(1);
    for (const threads of [2, 3, 16]) {
      assert.deepEqual(rho(threads), one, `gate, ${threads} threads, ${u ? 'noise' : 'no noise'}`);
      assert.deepEqual(grad(threads), gOne, `gradient, ${threads} threads`);
    }
  }
  assert.throws(() => native.concreteGate(logits, null, 0.2, new Float32Array(n), 0), RangeError);
});
