/**
 * Microbenchmark of one training step (not a test): the CPU time of loss, gradients and the optimizer's push for
 * each model named, on a dataset's first batches of epoch 1, in this process (`process.cpuUsage`, which counts the
 * compute pool's threads too); optionally tf.profile's per-kernel times. It is what docs/benchmarks.md's "CPU time
 * of one training step" and "kernels of one step" figures come from: on a shared machine CPU time says what a step
 * costs, wall time how busy the machine was.
 *
 *   node --import tsx bench/micro/train-step.ts --data ../shared/datasets/baby --models camrec,lightgcn \
 *     [--steps 16] [--batch 2048] [--threads 1] [--hyper '{"frontdoor":false}'] [--kernels [--shapes]] [--no-native]
 *
 * Kernel lines give ms per step and calls per step. With --shapes the kernel times are kept apart by input shapes too (which call of a kernel costs what).
 * Models are interleaved step by step (each keeps its own store), so that load from other processes hits them
 * alike. The first 2 steps of each model are warm-up and not counted; figures are min, q1 and median ms per step.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { configureCompute, initBackend, shutdownCompute } from '../../src/compute/index.js';
import { loadDataset } from '../../src/data/index.js';
import { models } from '../../src/models/index.js';
import { adam, lossAndGrads, LocalParamStore, pullRows, TrainSampler } from '../../src/train/index.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    models: { type: 'string', default: 'camrec,lightgcn' },
    steps: { type: 'string', default: '16' },
    batch: { type: 'string', default: '2048' },
    threads: { type: 'string', default: '1' },
    hyper: { type: 'string', default: '{}' },
    kernels: { type: 'boolean', default: false },
    shapes: { type: 'boolean', default: false },
    'no-native': { type: 'boolean', default: false },
  },
});
if (!values.data) throw new Error('give --data <dataset folder>');
const WARMUP = 2;
const steps = Number(values.steps);
await configureCompute({ threads: Number(values.threads), native: !values['no-native'] });
await initBackend('wasm');
const data = await loadDataset(values.data);
const batches = new TrainSampler(data, 1, Number(values.batch)).epoch(1);
if (batches.length < steps) throw new Error(`${data.name} has ${batches.length} batches of ${values.batch}, fewer than --steps ${steps}`);

const runs = values.models.split(',').map((name) => {
  const model = models.get(name);
  const hyper = model.hyper.parse(name === 'camrec' ? JSON.parse(values.hyper) : {}) as Record<string, unknown>;
  const prep = model.prepare(data, hyper, { seed: 1 });
  const store = new LocalParamStore(model.tables(data, hyper), adam(1e-3), 1);
  return { name, model, hyper, prep, store, cpu: [] as number[], kernels: new Map<string, number>(), calls: new Map<string, number>() };
});

console.log(`${data.name}, batch ${values.batch}, ${values.threads} thread(s); load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
for (let s = 0; s < steps; s++) {
  for (const r of runs) {
    const pulled = await pullRows(r.store, r.model.rows(batches[s], r.prep, r.hyper));
    const c0 = process.cpuUsage();
    let grads: Awaited<ReturnType<typeof lossAndGrads>>['grads'] | undefined;
    const step = () => (grads = lossAndGrads(r.model, batches[s], pulled, r.prep, r.hyper).grads);
    if (values.kernels && s >= WARMUP) {
      const info = await tf.profile(() => (step(), []));
      for (const k of info.kernels) {
        const key = values.shapes ? `${k.name} ${k.inputShapes.map((sh) => `[${sh}]`).join(' ')}` : k.name;
        r.kernels.set(key, (r.kernels.get(key) ?? 0) + (k.kernelTimeMs as number));
        r.calls.set(key, (r.calls.get(key) ?? 0) + 1);
      }
    } else step();
    await r.store.push(grads!);
    const c = process.cpuUsage(c0);
    if (s >= WARMUP) r.cpu.push((c.user + c.system) / 1000);
  }
}
for (const r of runs) {
  const cpu = [...r.cpu].sort((a, b) => a - b);
  const at = (q: number) => cpu[Math.floor(q * (cpu.length - 1))].toFixed(0);
  console.log(`${r.name}: CPU ms per step (step + push) min ${at(0)} q1 ${at(0.25)} median ${at(0.5)} over ${cpu.length} steps`);
  if (values.kernels) {
    const n = cpu.length;
    for (const [k, ms] of [...r.kernels].sort((a, b) => b[1] - a[1]).slice(0, values.shapes ? 40 : 20)) console.log(`  ${(ms / n).toFixed(1).padStart(8)} ms ${(r.calls.get(k)! / n).toFixed(0).padStart(4)}×  ${k}`);
  }
  r.store.dispose();
  r.prep.release();
}
await shutdownCompute();
