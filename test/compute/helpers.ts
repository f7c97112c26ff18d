import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { configureCompute, initBackend, shutdownCompute, tf } from '../../src/compute/index.js';
import { type Csr, csrFromCoo } from '../../src/graph/index.js';
import { CounterRng, type RandomStream } from '../../src/random/index.js';

export const BACKENDS = ['wasm', 'cpu'] as const;

/** The file's tests run on the wasm backend; after them, the defaults come back (wasm, the addon on) and the pool stops. */
export function useWasmCompute(): void {
  before(async () => {
    await initBackend('wasm');
  });
  after(async () => {
    await tf.setBackend('wasm');
    await configureCompute({ native: true });
    await shutdownCompute();
  });
}

export function rng(seed: number): RandomStream {
  return new CounterRng(seed).stream('init');
}

/** Uniform floats in [-1, 1). */
export function randomFloats(r: RandomStream, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => 2 * r.nextFloat() - 1);
}

/**
 * A random nRows × nCols CSR matrix with about `density`·nRows·nCols entries, every third row left empty,
 * some (row, col) pairs stored twice (duplicates add up), with values unless `binary`.
 */
export function randomCsr(r: RandomStream, nRows: number, nCols: number, density: number, binary = false): Csr {
  const rows: number[] = [];
  const cols: number[] = [];
  const target = Math.round(density * nRows * nCols);
  for (let e = 0; e < target && nCols > 0; e++) {
    const row = r.nextInt(Math.max(nRows, 1));
    if (row % 3 === 1) continue;
    const col = r.nextInt(nCols);
    const copies = e % 7 === 0 ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      rows.push(row);
      cols.push(col);
    }
  }
  const values = binary ? undefined : randomFloats(r, rows.length);
  return csrFromCoo(nRows, nCols, Int32Array.from(rows), Int32Array.from(cols), values);
}

/** |a − e| ≤ atol + rtol·|e| element-wise, naming the first index that fails. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, label = ''): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    const bound = atol + rtol * Math.abs(expected[i]);
    if (!(Math.abs(actual[i] - expected[i]) <= bound)) {
      assert.fail(`${label}: element ${i} is ${actual[i]}, expected ${expected[i]} (± ${bound})`);
    }
  }
}

/** Central finite difference of f at x along coordinate i, in float64 arithmetic on float32 inputs. */
export function centralDifference(f: (x: Float32Array) => number, x: Float32Array, i: number, h: number): number {
  const plus = Float32Array.from(x);
  const minus = Float32Array.from(x);
  plus[i] += h;
  minus[i] -= h;
  return (f(plus) - f(minus)) / (plus[i] - minus[i]);
}
