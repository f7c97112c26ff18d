/** The addon's blocked InfoNCE runs its blocks over threads: the loss and both gradients do not depend on how many. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachIsa, nativeFor, randomMatrix, stream } from './fixtures.js';

// [n, d, block]: one block, blocks with a short last one, more blocks than threads, fewer blocks than threads
const CASES: [number, number, number][] = [
  [5, 3, 8],
  [100, 13, 32],
  [1100, 64, 256],
  [700, 16, 350],
];

test('infoNce gives the same bits on 1, 2, 3 and 8 threads', (t) => {
  const native = nativeFor(t);
  if (!native) return;
  forEachIsa(native, (isa) => {
    CASES.forEach(([n, d, block], i) => {
      const s = stream(60 + i);
      const [x, y] = [randomMatrix(s, n * d), randomMatrix(s, n * d)];
      const run = (threads: number) => {
        const [gx, gy] = [new Float32Array(n * d), new Float32Array(n * d)];
        const loss = native.infoNce(x, y, n, d, 0.2, block, gx, gy, threads);
        return { loss, gx, gy };
      };
      const one = run(1);
      assert.ok(Number.isFinite(one.loss) && one.gx.some((v) => v !== 0), `${isa} n=${n}: a loss and gradients`);
      for (const threads of [2, 3, 8]) assert.deepEqual(run(threads), one, `${isa} n=${n} d=${d} block=${block}: ${threads} threads`);
    });
  });
});
