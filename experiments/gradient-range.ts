/**
 * Where a model's gradients lie against the 16-bit wire encodings (docs/paramserver.md "Reduced-precision wire"):
 * one process trains the model and, at every step, measures the gradients it pushes — the share of non-zero
 * elements below binary16's normal range (2^-14) and below half its least subnormal (2^-25, where binary16 rounds
 * to zero), and the relative L2 error ‖round(g) − g‖ / ‖g‖ of bfloat16 and binary16 — and the same error for the
 * parameters a worker would pull.
 *
 *   node --import tsx experiments/gradient-range.ts ../shared/datasets/baby [model=lightgcn] [epochs=1] [batch=2048]
 */
import { configureCompute, initBackend, shutdownCompute } from '../src/compute/index.js';
import { loadDataset } from '../src/data/index.js';
import { models } from '../src/models/index.js';
import { narrowRowsReference, widenRowsReference, type NarrowEncoding } from '../src/paramserver/encoding.js';
import { adam, LocalParamStore, TrainSampler, trainStep, type ParamStore, type RowGrad } from '../src/train/index.js';

const [dir, modelName = 'lightgcn', epochsArg = '1', batchArg = '2048'] = process.argv.slice(2);
await configureCompute({ threads: 2 });
await initBackend('wasm');
const data = await loadDataset(dir);
const model = models.get(modelName);
const hyper = model.hyper.parse({}) as Record<string, unknown>;
const prep = model.prepare(data, hyper, { seed: 1 });
const local = new LocalParamStore(model.tables(data, hyper), adam(1e-3), 1);

/** ‖round(x) − x‖ / ‖x‖ for a 16-bit encoding. */
function roundingError(x: Float32Array, e: NarrowEncoding): number {
  const h = new Uint16Array(x.length);
  narrowRowsReference(h, x, 1, null, e);
  const back = new Float32Array(x.length);
  widenRowsReference(back, h, 1, null, e);
  let d = 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    d += (back[i] - x[i]) ** 2;
    n += x[i] ** 2;
  }
  return Math.sqrt(d / n);
}

interface StepFigures {
  step: number;
  nonZero: number;
  belowNormal: number;
  belowHalfSubnormal: number;
  medianAbs: number;
  gradError: Record<NarrowEncoding, number>;
  paramError: Record<NarrowEncoding, number>;
}

const figures: StepFigures[] = [];

/** LocalParamStore, measuring each step's gradients (and the parameters as they were pulled for it). */
const measuring: ParamStore = {
  specs: local.specs,
  get step() {
    return local.step;
  },
  pull: (table, ids) => local.pull(table, ids),
  async push(grads: readonly RowGrad[]) {
    const all = Float32Array.from(grads.flatMap((g) => [...g.grad]));
    const abs = all.map(Math.abs).filter((a) => a > 0).sort();
    const params = Float32Array.from((await Promise.all(local.specs.map((s) => local.pull(s.name, null)))).flatMap((p) => [...p]));
    figures.push({
      step: local.step + 1,
      nonZero: abs.length / all.length,
      belowNormal: abs.filter((a) => a < 2 ** -14).length / abs.length,
      belowHalfSubnormal: abs.filter((a) => a <= 2 ** -25).length / abs.length,
      medianAbs: abs[abs.length >> 1],
      gradError: { bf16: roundingError(all, 'bf16'), f16: roundingError(all, 'f16') },
      paramError: { bf16: roundingError(params, 'bf16'), f16: roundingError(params, 'f16') },
    });
    await local.push(grads);
  },
  exportState: () => local.exportState(),
  importState: (s) => local.importState(s),
};

const sampler = new TrainSampler(data, 1, Number(batchArg));
for (let epoch = 1; epoch <= Number(epochsArg); epoch++) for (const batch of sampler.epoch(epoch)) await trainStep(model, batch, measuring, prep, hyper);

const pick = [figures[0], figures[Math.floor(figures.length / 2)], figures[figures.length - 1]];
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
console.log(`${data.name}, ${modelName}, ${figures.length} steps of batch ${batchArg}; steps ${pick.map((f) => f.step).join(', ')}:`);
for (const f of pick) {
  console.log(
    `  step ${f.step}: non-zero ${pct(f.nonZero)}, median |g| ${f.medianAbs.toExponential(2)}, below 2^-14 ${pct(f.belowNormal)}, at most 2^-25 ${pct(f.belowHalfSubnormal)}; ` +
      `gradient error bf16 ${f.gradError.bf16.toExponential(2)} f16 ${f.gradError.f16.toExponential(2)}; parameter error bf16 ${f.paramError.bf16.toExponential(2)} f16 ${f.paramError.f16.toExponential(2)}`,
  );
}
local.dispose();
prep.release();
await shutdownCompute();
