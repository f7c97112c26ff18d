import assert from 'node:assert/strict';
import { test } from 'node:test';
import { edgeMlpBackward, edgeMlpForward } from '../../src/compute/index.js';
import { assertClose } from '../compute/helpers.js';
import { forEachIsa, nativeFor, randomMatrix, stream } from './fixtures.js';

/** A user-major edge CSR over nUsers users (every fourth without edges) and nItems items, and its edge list. */
function edges(nUsers: number, nItems: number) {
  const s = stream(71);
  const users: number[] = [];
  const items: number[] = [];
  const indptr = new Int32Array(nUsers + 1);
  for (let u = 0; u < nUsers; u++) {
    const k = u % 4 === 3 ? 0 : 1 + s.nextInt(6);
    for (let j = 0; j < k; j++) {
      users.push(u);
      items.push(s.nextInt(nItems));
    }
    indptr[u + 1] = users.length;
  }
  return { indptr, list: { users: Int32Array.from(users), items: Int32Array.from(items) } };
}

test('native edgeMlp and edgeMlpGrad equal the float64 references for each instruction set and thread count', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const s = stream(72);
  for (const [nUsers, nItems, h] of [[3000, 500, 64], [40, 9, 13], [7, 3, 1]] as const) {
    const { indptr, list } = edges(nUsers, nItems);
    const nEdges = list.users.length;
    const [a, b, bias, wo, g] = [nUsers * h + h, nItems * h, h, h, nEdges].map((n) => randomMatrix(s, n)); // a has one spare row
    const forward = edgeMlpForward(a, b, bias, wo, 0.25, list);
    const ref = edgeMlpBackward(g, a, b, bias, wo, list);
    forEachIsa(native, (isa) => {
      for (const threads of [1, 2, 5]) {
        const label = `${isa} U=${nUsers} H=${h} ${threads} threads`;
        const omega = new Float32Array(nEdges);
        native.edgeMlp(indptr, list.items, a, b, bias, wo, 0.25, omega, threads);
        assertClose(omega, forward, 1e-5, 1e-4, `${label}: ω`);
        const [ga, gb, gBias, gOut, gOutBias] = [a.length, b.length, h, h, 1].map((n) => new Float32Array(n).fill(Number.NaN));
        native.edgeMlpGrad(indptr, list.items, a, b, bias, wo, g, ga, gb, gBias, gOut, gOutBias, threads);
        assertClose(ga.subarray(0, nUsers * h), ref.a.subarray(0, nUsers * h), 1e-5, 1e-4, `${label}: ∂a`);
        assert.ok(ga.subarray(nUsers * h).every((v) => v === 0), `${label}: ∂a past the users`);
        assertClose(gb, ref.b, 1e-5, 1e-4, `${label}: ∂b`);
        assertClose(gBias, ref.bias, 1e-5, 1e-3, `${label}: ∂b_1`);
        assertClose(gOut, ref.out, 1e-5, 1e-3, `${label}: ∂w_o`);
        assertClose(gOutBias, [ref.outBias], 1e-6, 1e-4, `${label}: ∂b_o`);
      }
    });
  }
});

test('native edgeMlp refuses edges or weights that would take it outside its arrays', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  const indptr = Int32Array.of(0, 2, 3);
  const items = Int32Array.of(0, 1, 1);
  const [a, b, w] = [new Float32Array(8), new Float32Array(8), new Float32Array(4)];
  const omega = new Float32Array(3);
  assert.throws(() => native.edgeMlp(indptr, Int32Array.of(0, 2, 1), a, b, w, w, 0, omega, 1), /outside \[0, 2\)/);
  assert.throws(() => native.edgeMlp(indptr, items, new Float32Array(4), b, w, w, 0, omega, 1), /a has 1 rows, the edges have 2 users/);
  assert.throws(() => native.edgeMlp(indptr, items, a, b, w, new Float32Array(3), 0, omega, 1), /wo has 3 floats/);
  assert.throws(() => native.edgeMlp(indptr, items, a, b, w, w, 0, new Float32Array(2), 1), /omega has 2 floats/);
  assert.throws(() => native.edgeMlp(Int32Array.of(0, 3, 2), items, a, b, w, w, 0, omega, 1), /indptr decreases/);
  const [ga, gb, g1, g2] = [new Float32Array(8), new Float32Array(8), new Float32Array(4), new Float32Array(4)];
  assert.throws(() => native.edgeMlpGrad(indptr, items, a, b, w, w, new Float32Array(2), ga, gb, g1, g2, new Float32Array(1), 1), /g has 2 floats/);
  assert.throws(() => native.edgeMlpGrad(indptr, items, a, b, w, w, omega, ga, ga, g1, g2, new Float32Array(1), 1), /outputs overlap/);
});
