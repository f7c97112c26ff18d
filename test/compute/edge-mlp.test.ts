import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  type EdgeList,
  computePool,
  configureCompute,
  edgeMlp,
  edgeMlpBackward,
  edgeMlpForward,
  initBackend,
  kernelCounters,
  releaseEdgeList,
  sharedHeap,
  shutdownCompute,
  tf,
} from '../../src/compute/index.js';
import { edgeMlpComposite } from '../../src/compute/kernels/edge-mlp.js';
import { rowKernels, simdSupported } from '../../src/compute/kernels/row-kernels.js';
import { BACKENDS, assertClose, randomFloats, rng } from './helpers.js';
import type { RandomStream } from '../../src/random/index.js';

before(async () => {
  await initBackend('wasm');
});

after(async () => {
  await tf.setBackend('wasm');
  await configureCompute({});
  await shutdownCompute();
});

/** A user-major edge list: every third user has no edges, items random (repeats allowed), `perUser` on average. */
function randomEdges(r: RandomStream, nUsers: number, nItems: number, perUser: number): EdgeList {
  const users: number[] = [];
  const items: number[] = [];
  for (let u = 0; u < nUsers; u++) {
    if (u % 3 === 1 || nItems === 0) continue;
    const k = r.nextInt(2 * perUser + 1);
    for (let j = 0; j < k; j++) {
      users.push(u);
      items.push(r.nextInt(nItems));
    }
  }
  return { users: Int32Array.from(users), items: Int32Array.from(items) };
}

interface Inputs {
  a: Float32Array;
  b: Float32Array;
  bias: Float32Array;
  out: Float32Array;
  outBias: number;
}

/** Inputs with about half of the pre-activations positive. */
function randomInputs(r: RandomStream, nUsers: number, nItems: number, h: number): Inputs {
  return { a: randomFloats(r, nUsers * h), b: randomFloats(r, nItems * h), bias: randomFloats(r, h), out: randomFloats(r, h), outBias: r.nextFloat() };
}

function tensors(x: Inputs, nUsers: number, nItems: number, h: number): tf.Tensor2D[] {
  return [
    tf.tensor2d(x.a, [nUsers, h]),
    tf.tensor2d(x.b, [nItems, h]),
    tf.tensor2d(x.bias, [1, h]),
    tf.tensor2d(x.out, [h, 1]),
    tf.tensor2d([x.outBias], [1, 1]),
  ];
}

/** ω and the five gradients of Σ g ⊙ ω, as arrays; every tensor made on the way is disposed. */
function omegaAndGrads(op: typeof edgeMlp, ins: tf.Tensor2D[], g: Float32Array, edges: EdgeList): Float32Array[] {
  return tf.tidy(() => {
    const omega = Float32Array.from(op(ins[0], ins[1], ins[2], ins[3], ins[4], edges).dataSync());
    const loss = (...xs: tf.Tensor[]): tf.Scalar => {
      const [a, b, bias, out, outBias] = xs as tf.Tensor2D[];
      return tf.sum(tf.mul(op(a, b, bias, out, outBias, edges), tf.tensor1d(g)));
    };
    return [omega, ...tf.grads(loss)(ins).map((t) => Float32Array.from(t.dataSync()))];
  });
}

/** [users, items, H, edges per user]: H not a multiple of 4, H < 4, no edges, and one large enough for the pool. */
const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [7, 5, 3, 2],
  [20, 9, 8, 3],
  [30, 17, 13, 4],
  [12, 6, 64, 3],
  [5, 4, 6, 0],
  [900, 300, 40, 6],
];

// Kernels sum in float32 (the references in float64): sums of up to a few hundred terms of magnitude ≤ 1·|w_o|,
// so each value is within 1e-5·(Σ|terms|) ≈ 1e-4 absolute of the reference at the largest shapes.
const [RTOL, ATOL] = [1e-5, 1e-4];

// With the addon the kernels are native (edgeMlp, edgeMlpGrad); without it, wasm SIMD row kernels on the pool.
for (const [backend, native] of BACKENDS.flatMap((b) => [[b, true], [b, false]] as const)) {
  test(`edgeMlp and all five gradients match the float64 references on ${backend}, native addon ${native ? 'on' : 'off'}`, async () => {
    await configureCompute({ native });
    await tf.setBackend(backend);
    const r = rng(31);
    for (const [nUsers, nItems, h, perUser] of SHAPES) {
      const edges = randomEdges(r, nUsers, nItems, perUser);
      const x = randomInputs(r, nUsers, nItems, h);
      const g = randomFloats(r, edges.users.length);
      const ins = tensors(x, nUsers, nItems, h);
      const [omega, ga, gb, gBias, gOut, gOutBias] = omegaAndGrads(edgeMlp, ins, g, edges);
      const label = `${backend} U=${nUsers} I=${nItems} H=${h} E=${edges.users.length}`;
      assertClose(omega, edgeMlpForward(x.a, x.b, x.bias, x.out, x.outBias, edges), RTOL, ATOL, `${label} ω`);
      const ref = edgeMlpBackward(g, x.a, x.b, x.bias, x.out, edges);
      assertClose(ga, ref.a, RTOL, ATOL, `${label} ∂a`);
      assertClose(gb, ref.b, RTOL, ATOL, `${label} ∂b`);
      assertClose(gBias, ref.bias, RTOL, ATOL, `${label} ∂b_1`);
      assertClose(gOut, ref.out, RTOL, ATOL, `${label} ∂w_o`);
      assertClose(gOutBias, [ref.outBias], RTOL, ATOL, `${label} ∂b_o`);
      tf.dispose(ins);
      releaseEdgeList(edges);
    }
    await configureCompute({});
  });
}

test('the gradients match central differences of the float64 forward reference', async () => {
  await tf.setBackend('wasm');
  const r = rng(32);
  const [nUsers, nItems, h] = [6, 5, 7];
  const edges = randomEdges(r, nUsers, nItems, 3);
  const x = randomInputs(r, nUsers, nItems, h);
  const g = randomFloats(r, edges.users.length);
  const ins = tensors(x, nUsers, nItems, h);
  const grads = omegaAndGrads(edgeMlp, ins, g, edges).slice(1);
  const fields = ['a', 'b', 'bias', 'out'] as const;
  const loss = (v: Record<(typeof fields)[number], ArrayLike<number>>, outBias: number): number => {
    const omega = edgeMlpForward(v.a, v.b, v.bias, v.out, outBias, edges);
    return omega.reduce((s, w, e) => s + w * g[e], 0);
  };
  // Steps of 1e-4 in float64 (ω is rounded to float32 once, ≈ 1e-7 relative): differences exact to ≈ 1e-3 of
  // |loss|/step·1e-7 ≈ 1e-3; no pre-activation may lie within a step of the ReLU kink (checked below).
  const step = 1e-4;
  fields.forEach((field, k) => {
    const fd = Array.from(x[field], (_, i) => {
      const shifted = (delta: number) => ({ ...x, [field]: Float64Array.from(x[field], (v, j) => (j === i ? v + delta : v)) });
      return (loss(shifted(step), x.outBias) - loss(shifted(-step), x.outBias)) / (2 * step);
    });
    assertClose(grads[k], fd, 1e-3, 5e-3, `∂${field}`);
  });
  assertClose(grads[4], [(loss(x, x.outBias + step) - loss(x, x.outBias - step)) / (2 * step)], 1e-3, 5e-3, '∂b_o');
  for (let e = 0; e < edges.users.length; e++) {
    for (let j = 0; j < h; j++) {
      const v = x.a[edges.users[e] * h + j] + x.b[edges.items[e] * h + j] + x.bias[j];
      assert.ok(Math.abs(v) > 2 * step, 'no pre-activation within a step of the ReLU kink (else pick another seed)');
    }
  }
  assert.ok(grads[0].some((v) => Math.abs(v) > 0.1), 'the gradient in a is not trivially zero');
  tf.dispose(ins);
  releaseEdgeList(edges);
});

test('gradients are right when more calls run than input copies are kept (six layers: the first two recopy)', async () => {
  await tf.setBackend('wasm');
  const r = rng(37);
  const [nUsers, nItems, h, layers] = [30, 12, 8, 6];
  const edges = randomEdges(r, nUsers, nItems, 3);
  const x = randomInputs(r, nUsers, nItems, h);
  const g = randomFloats(r, edges.users.length);
  const ins = tensors(x, nUsers, nItems, h);
  const scale = (l: number): number => 1 + 0.25 * l;
  const loss = (ta: tf.Tensor): tf.Scalar => {
    const omegas = Array.from({ length: layers }, (_, l) => edgeMlp(tf.mul(ta, scale(l)) as tf.Tensor2D, ins[1], ins[2], ins[3], ins[4], edges));
    return tf.sum(tf.mul(tf.addN(omegas), tf.tensor1d(g)));
  };
  const ga = tf.tidy(() => Float32Array.from(tf.grad(loss)(ins[0]).dataSync()));
  const expected = new Float64Array(x.a.length);
  for (let l = 0; l < layers; l++) {
    const ref = edgeMlpBackward(g, x.a.map((v) => v * scale(l)), x.b, x.bias, x.out, edges);
    ref.a.forEach((v, i) => (expected[i] += scale(l) * v));
  }
  assertClose(ga, expected, RTOL, ATOL * layers, '∂a summed over six layers');
  tf.dispose(ins);
  releaseEdgeList(edges);
});

for (const native of [true, false]) test(`ω and ∂a do not depend on the thread count; ∂b, ∂b_1, ∂w_o only by float32 summation order (native ${native ? 'on' : 'off'})`, async () => {
  await tf.setBackend('wasm');
  const r = rng(33);
  const [nUsers, nItems, h] = [1500, 400, 33];
  const edges = randomEdges(r, nUsers, nItems, 8);
  const x = randomInputs(r, nUsers, nItems, h);
  const g = randomFloats(r, edges.users.length);
  const results: Float32Array[][] = [];
  for (const threads of [1, 2, 3]) {
    await configureCompute({ threads, native });
    assert.equal(await computePool().ready(), threads);
    const ins = tensors(x, nUsers, nItems, h);
    results.push(omegaAndGrads(edgeMlp, ins, g, edges));
    tf.dispose(ins);
  }
  for (const other of results.slice(1)) {
    assert.deepEqual(other[0], results[0][0], 'ω bitwise equal');
    assert.deepEqual(other[1], results[0][1], '∂a bitwise equal');
    for (const k of [2, 3, 4, 5]) assertClose(other[k], results[0][k], 1e-5, 1e-5, `output ${k}`);
  }
  await configureCompute({});
  releaseEdgeList(edges);
});

test('the SIMD and TypeScript row kernels agree, over any split of users and chunks', () => {
  const heap = sharedHeap();
  const r = rng(34);
  for (const h of [1, 4, 6, 64]) {
    const [nUsers, nItems] = [40, 15];
    const edges = randomEdges(r, nUsers, nItems, 3);
    const nEdges = edges.users.length;
    const x = randomInputs(r, nUsers, nItems, h);
    const g = randomFloats(r, nEdges);
    const indptr = new Int32Array(nUsers + 1);
    for (const u of edges.users) indptr[u + 1]++;
    for (let u = 0; u < nUsers; u++) indptr[u + 1] += indptr[u];
    const ptrs = [heap.put(indptr), heap.put(edges.items), heap.put(x.a), heap.put(x.b), heap.put(x.bias), heap.put(x.out)];
    const [omega, gs, ga, gb, sums, chunks] = [heap.alloc(nEdges * 4), heap.put(g), heap.alloc(nUsers * h * 4), heap.alloc(3 * nItems * h * 4), heap.alloc(3 * 2 * h * 4), heap.put(Int32Array.from([0, 13, 14, nUsers]))];
    const ref = edgeMlpBackward(g, x.a, x.b, x.bias, x.out, edges);
    for (const simd of simdSupported() ? [true, false] : [false]) {
      const kernels = rowKernels(heap.memory, simd);
      heap.f32(omega, nEdges).fill(Number.NaN);
      kernels.edgeMlp([...ptrs, omega, h, x.outBias], 0, 9);
      kernels.edgeMlp([...ptrs, omega, h, x.outBias], 9, nUsers);
      assertClose(heap.f32(omega, nEdges), edgeMlpForward(x.a, x.b, x.bias, x.out, x.outBias, edges), 1e-5, 1e-5, `simd=${simd} h=${h} ω`);
      heap.f32(gb, 3 * nItems * h).fill(Number.NaN);
      heap.f32(ga, nUsers * h).fill(Number.NaN);
      const args = [...ptrs, gs, ga, gb, sums, h, nItems, chunks];
      kernels.edgeMlpGrad(args, 0, 2);
      kernels.edgeMlpGrad(args, 2, 3);
      const partial = (c: number) => heap.f32(gb + c * nItems * h * 4, nItems * h);
      const sum = (f: (c: number) => Float32Array, n: number) => Array.from({ length: n }, (_, i) => f(0)[i] + f(1)[i] + f(2)[i]);
      const row = (c: number, k: number) => heap.f32(sums + (2 * c + k) * h * 4, h);
      assertClose(heap.f32(ga, nUsers * h), ref.a, 1e-5, 1e-5, `simd=${simd} h=${h} ∂a`);
      assertClose(sum(partial, nItems * h), ref.b, 1e-5, 1e-5, `simd=${simd} h=${h} ∂b`);
      assertClose(sum((c) => row(c, 0), h), ref.out, 1e-5, 1e-5, `simd=${simd} h=${h} ∂w_o`);
      assertClose(sum((c) => row(c, 1), h), ref.bias, 1e-5, 1e-5, `simd=${simd} h=${h} ∂b_1`);
    }
    for (const ptr of [...ptrs, omega, gs, ga, gb, sums, chunks]) heap.release(ptr);
  }
});

for (const backend of BACKENDS) {
  test(`the TypeScript fallback (for tensorflow) equals the kernels, and the kernels leak nothing, on ${backend}`, async () => {
    await tf.setBackend(backend);
    const r = rng(35);
    const [nUsers, nItems, h] = [25, 11, 9];
    const edges = randomEdges(r, nUsers, nItems, 3);
    const ins = tensors(randomInputs(r, nUsers, nItems, h), nUsers, nItems, h);
    const g = randomFloats(r, edges.users.length);
    const counts = () => [kernelCounters().CamrecEdgeMlp ?? 0, kernelCounters().CamrecEdgeMlpGrad ?? 0];
    const [fwd, bwd] = counts();
    const before = tf.memory().numTensors;
    const ours = omegaAndGrads(edgeMlp, ins, g, edges);
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
    assert.deepEqual(counts(), [fwd + 2, bwd + 1], 'two forward calls, one gradient call for all five inputs');
    const fallback = omegaAndGrads(edgeMlpComposite, ins, g, edges);
    ours.forEach((v, k) => assertClose(v, fallback[k], 1e-5, 1e-5, `output ${k}`));
    tf.dispose(ins);
    releaseEdgeList(edges);
  });
}

test('edge lists are copied once and released on request; the kept input copies stay bounded; bad inputs give clear errors', async () => {
  await tf.setBackend('wasm');
  const heap = sharedHeap();
  const edges: EdgeList = { users: Int32Array.from([0, 0, 2]), items: Int32Array.from([1, 0, 1]) };
  const ins = tensors(randomInputs(rng(36), 3, 2, 4), 3, 2, 4);
  const [a, b, bias, out, outBias] = ins;
  const allocated: number[] = [];
  for (let call = 0; call < 10; call++) {
    tf.tidy(() => edgeMlp(a, b, bias, out, outBias, edges));
    allocated.push(heap.allocatedBytes);
  }
  assert.equal(allocated[9], allocated[5], 'no growth once the kept copies are all in use: the edge list is not copied again');
  releaseEdgeList(edges);
  assert.equal(allocated[9] - heap.allocatedBytes, 128, 'release frees indptr and items (one 64-byte block each)');
  releaseEdgeList(edges);
  assert.equal(allocated[9] - heap.allocatedBytes, 128, 'releasing twice is harmless');
  const bad = (users: number[], items: number[]): EdgeList => ({ users: Int32Array.from(users), items: Int32Array.from(items) });
  tf.tidy(() => {
    assert.throws(() => edgeMlp(a, b, bias, out, outBias, bad([1, 0], [0, 0])), /edges must be user-major; user 0 at edge 1 follows user 1/);
    assert.throws(() => edgeMlp(a, b, bias, out, outBias, bad([0], [0, 1])), /1 users but 2 items/);
    assert.throws(() => edgeMlp(a, b, bias, out, outBias, bad([0, 3], [0, 0])), /a has 3 rows, the edges reach user 3/);
    assert.throws(() => edgeMlp(a, b, bias, out, outBias, bad([0], [2])), /b has 2 rows, the edges reach item 2/);
    assert.throws(() => edgeMlp(a, tf.zeros([2, 5]), bias, out, outBias, edges), /a and b differ in width \(4 and 5\)/);
    assert.throws(() => edgeMlp(a, b, tf.zeros([4, 1]), out, outBias, edges), /bias must have shape \[1, 4\], got \[4, 1\]/);
    assert.throws(() => edgeMlp(a, b, bias, out, tf.zeros([1]) as unknown as tf.Tensor2D, edges), /outBias must be a float32 tensor of rank 2/);
  });
  releaseEdgeList(edges);
  tf.dispose(ins);
});
