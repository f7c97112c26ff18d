/**
 * One training step, the same code over any ParamStore (DESIGN.md §5): pull the rows the batch needs, compute
 * the model's loss and its gradients with respect to the pulled rows, push the gradients (the store applies
 * the optimizer once).
 */
import * as tf from '@tensorflow/tfjs';
import type { Batch, Model, Param, Prepared } from '../models/types.js';
import type { ParamStore, RowGrad } from './paramstore.js';
import type { TableSpec } from './tables.js';

export interface StepResult {
  readonly loss: number;
  readonly parts: Record<string, number>;
}

/** The rows of one table that a step works on. */
interface Pulled {
  readonly spec: TableSpec;
  readonly ids: Int32Array | null;
  readonly values: Float32Array;
}

export async function pullRows(
  store: ParamStore,
  rows: Record<string, Int32Array | null>,
): Promise<Pulled[]> {
  const specs = new Map(store.specs.map((s) => [s.name, s]));
  return Promise.all(
    Object.entries(rows).map(async ([name, ids]) => {
      const spec = specs.get(name);
      if (!spec) throw new Error(`model asks for unknown table ${name}`);
      return { spec, ids, values: await store.pull(name, ids) };
    }),
  );
}

export function toTensor(p: Pulled): tf.Tensor2D {
  const rows = p.ids ? p.ids.length : p.spec.rows;
  return tf.tensor2d(p.values, [rows, p.spec.dim]);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyModel = Model<any, any>;

/** Computes loss and gradients for the pulled rows; leaves no tensors behind. */
export function lossAndGrads(
  model: AnyModel,
  batch: Batch,
  pulled: readonly Pulled[],
  prep: Prepared,
  hyper: Record<string, unknown>,
): { result: StepResult; grads: RowGrad[] } {
  const inputs = pulled.map(toTensor);
  const trainable = pulled.map((p, i) => (p.spec.trainable ? i : -1)).filter((i) => i >= 0);
  let parts: Record<string, tf.Scalar> = {};
  try {
    const f = (...xs: tf.Tensor[]) => {
      const params: Record<string, Param> = {};
      pulled.forEach((p, i) => {
        const k = trainable.indexOf(i);
        params[p.spec.name] = { value: (k >= 0 ? xs[k] : inputs[i]) as tf.Tensor2D, ids: p.ids };
      });
      const out = model.loss(params, batch, prep, hyper);
      parts = Object.fromEntries(Object.entries(out.parts).map(([k, v]) => [k, tf.keep(v)]));
      return out.total;
    };
    const { value, grads } = tf.valueAndGrads(f)(trainable.map((i) => inputs[i]));
    const loss = value.dataSync()[0];
    const rowGrads = trainable.map((i, k) => ({
      table: pulled[i].spec.name,
      ids: pulled[i].ids,
      grad: grads[k].dataSync() as Float32Array,
    }));
    value.dispose();
    tf.dispose(grads);
    const partValues = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, v.dataSync()[0]]));
    return { result: { loss, parts: partValues }, grads: rowGrads };
  } finally {
    tf.dispose(inputs);
    tf.dispose(Object.values(parts));
  }
}

export async function trainStep(
  model: AnyModel,
  batch: Batch,
  store: ParamStore,
  prep: Prepared,
  hyper: Record<string, unknown>,
): Promise<StepResult> {
  const pulled = await pullRows(store, model.rows(batch, prep, hyper));
  const { result, grads } = lossAndGrads(model, batch, pulled, prep, hyper);
  await store.push(grads);
  return result;
}
