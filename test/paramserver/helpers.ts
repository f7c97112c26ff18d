/** Shared pieces of the parameter-server tests: table specs, random gradients, state comparison. */
import assert from 'node:assert/strict';
import { CounterRng } from '../../src/random/index.js';
import type { RowGrad, StoreState, TableSpec } from '../../src/train/index.js';
import type { ShardSnapshot } from '../../src/paramserver/index.js';

/** Two row-sharded embedding tables, a whole dense tensor and a frozen one. */
export const SPECS: readonly TableSpec[] = [
  { name: 'users', rows: 37, dim: 8, init: { kind: 'xavierUniform' }, trainable: true },
  { name: 'items', rows: 53, dim: 8, init: { kind: 'normal', std: 0.1 }, trainable: true },
  { name: 'mlp', rows: 6, dim: 4, init: { kind: 'xavierUniform' }, trainable: true },
  { name: 'feat', rows: 53, dim: 3, init: { kind: 'values', values: Float32Array.from({ length: 53 * 3 }, (_, k) => k / 10) }, trainable: false },
];

/** users and items row-sharded, the rest whole. */
export const placement = (s: TableSpec) => (s.name === 'users' || s.name === 'items' ? ('rows' as const) : ('whole' as const));

/** A random sorted subset of [0, rows). */
export function randomIds(rng: CounterRng, step: number, key: number, rows: number, p: number): Int32Array {
  const s = rng.stream('noise', key, 0, step);
  const ids: number[] = [];
  for (let r = 0; r < rows; r++) if (s.nextFloat() < p) ids.push(r);
  if (ids.length === 0) ids.push(step % rows);
  return Int32Array.from(ids);
}

export function randomValues(rng: CounterRng, step: number, key: number, n: number): Float32Array {
  const s = rng.stream('noise', key, 1, step);
  return Float32Array.from({ length: n }, () => s.nextNormal());
}

/** Step `step`'s gradients: sparse rows of users and items, the whole mlp tensor (ids null). */
export function randomGrads(step: number, specs: readonly TableSpec[] = SPECS, seed = 5): RowGrad[] {
  const rng = new CounterRng(seed);
  return specs
    .filter((s) => s.trainable)
    .map((s, k) => {
      const ids = s.rows <= 8 ? null : randomIds(rng, step, k, s.rows, 0.3);
      return { table: s.name, ids, grad: randomValues(rng, step, k, (ids ? ids.length : s.rows) * s.dim) };
    });
}

/** Largest |a - b| / max(1, |b|) over two arrays of the same length. */
export function maxRelDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length, 'array lengths differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

/** Asserts two store states hold the same step and, within `tol`, the same tables and optimizer state. */
export function assertSameState(got: StoreState, want: StoreState, tol = 1e-5): void {
  assert.equal(got.step, want.step, 'step');
  assert.deepEqual(Object.keys(got.tables).sort(), Object.keys(want.tables).sort());
  for (const [name, w] of Object.entries(want.tables)) {
    const g = got.tables[name];
    assert.ok(maxRelDiff(g.values, w.values) <= tol, `table ${name} values differ by ${maxRelDiff(g.values, w.values)}`);
    assert.equal(g.state.length, w.state.length, `table ${name} state slots`);
    g.state.forEach((s, k) => assert.ok(maxRelDiff(s, w.state[k]) <= tol, `table ${name} state ${k} differs by ${maxRelDiff(s, w.state[k])}`));
  }
}

/** A deep copy of a shard's arrays and step, to compare before and after a request. */
export function copySnapshot(s: ShardSnapshot) {
  return {
    step: s.step,
    tables: s.tables.map((t) => ({ name: t.name, version: t.version, values: t.values.slice(), state: t.state.map((x) => x.slice()), rowVersions: t.rowVersions.slice() })),
  };
}
