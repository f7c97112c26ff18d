/**
 * Microbenchmark of the wasm BatchMatMul (not a test): the stock tfjs-wasm kernel against ours (batch-matmul.ts),
 * which runs flagged and batched products through XNNPACK's plain rank-2 layout: products with each transpose
 * flag, batched products, and forward + backward of a plain product (its stock gradient uses the flags).
 *
 *   node --import tsx bench/micro/batch-matmul.ts [--repeats 11]
 *
 * The two kernels are swapped in the registry before each run; runs are interleaved within each repeat, so that
 * load from other processes hits them alike; figures are medians (and minima) in milliseconds.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { initBackend, shutdownCompute, tf } from '../../src/compute/index.js';
import { stockBatchMatMulConfig } from '../../src/compute/kernels/batch-matmul.js';
import { median } from '../lib/stats.js';

const { values } = parseArgs({ options: { repeats: { type: 'string', default: '11' } } });
const repeats = Number(values.repeats);
await initBackend('wasm');
const ours = tf.getKernel('BatchMatMul', 'wasm');
const stock = stockBatchMatMulConfig();
if (!ours || !stock) throw new Error('the wasm BatchMatMul kernels are not registered');

function use(config: tf.KernelConfig): void {
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel(config);
}

/** [name, shape of a, shape of b, transposeA, transposeB, with the gradient]. */
const CASES: [string, number[], number[], boolean, boolean, boolean][] = [
  ['[6710,64]·[64,64]', [6710, 64], [64, 64], false, false, false],
  ['[6710,64]·[64,64]ᵀ', [6710, 64], [64, 64], false, true, false],
  ['[6710,64]ᵀ·[6710,64]', [6710, 64], [6710, 64], true, false, false],
  ['[2048,64]·[2048,64]ᵀ', [2048, 64], [2048, 64], false, true, false],
  ['[8,256,64]·[8,64,256]', [8, 256, 64], [8, 64, 256], false, false, false],
  ['[8,256,64]·[8,256,64]ᵀ', [8, 256, 64], [8, 256, 64], false, true, false],
  ['[6710,64]·[64,64] fwd+bwd', [6710, 64], [64, 64], false, false, true],
  ['[2048,64]·[2048,64]ᵀ fwd+bwd', [2048, 64], [2048, 64], false, true, true],
];

function runCase([, , , ta, tb, grad]: (typeof CASES)[number], a: tf.Tensor, b: tf.Tensor): void {
  tf.tidy(() => {
    if (!grad) return void tf.matMul(a, b, ta, tb).dataSync();
    for (const g of tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.matMul(x, y, ta, tb)))([a, b])) g.dataSync();
  });
}

const operands = CASES.map(([, sa, sb]) => [tf.randomNormal(sa), tf.randomNormal(sb)]);
const times: Record<string, number[]> = {};
for (let rep = -1; rep < repeats; rep++) {
  CASES.forEach((c, i) => {
    for (const [kernel, config] of [['stock', stock], ['ours', ours]] as const) {
      use(config);
      const t0 = performance.now();
      runCase(c, operands[i][0], operands[i][1]);
      if (rep >= 0) (times[`${c[0]} ${kernel}`] ??= []).push(performance.now() - t0);
    }
  });
}
use(ours);

console.log(`repeats ${repeats}; load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
console.log(`${'product'.padEnd(32)} ${'stock'.padStart(9)} ${'ours'.padStart(9)} ${'speed-up'.padStart(9)}  (median ms; minima in brackets)`);
for (const [name] of CASES) {
  const [s, o] = [times[`${name} stock`], times[`${name} ours`]];
  const cell = (v: number[]): string => `${median(v).toFixed(2)} [${Math.min(...v).toFixed(2)}]`;
  console.log(`${name.padEnd(32)} ${cell(s).padStart(16)} ${cell(o).padStart(16)} ${(median(s) / median(o)).toFixed(1).padStart(6)}×`);
}
tf.dispose(operands.flat());
await shutdownCompute();
