/**
 * One training step, the same code over any ParamStore (DESIGN.md §5): pull the rows the batch needs, compute
 * the model's loss and its gradients with respect to the pulled rows, push the gradients (the store applies
 * the optimizer once).
 */
import * as tf from '@tensorflow/tfjs';
import { readFloatsInto } from '../compute/index.js';
import { ConfigError } from '../errors/index.js';
import { uniqueSorted } from '../models/common.js';
import type { Batch, LossOutput, Model, Param, Params, Prepared } from '../models/types.js';
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

/** What a differentiable objective returns: the value to differentiate and the parts it reports. */
type Objective = (params: Params) => LossOutput;

/**
 * Arrays a caller keeps for the gradients it reads out step after step, one per table, so that a step does not
 * allocate a fresh multi-megabyte array per table (a distributed worker: docs/distributed.md §5). The gradients a
 * step returns in them are valid until the next step that uses the same buffers.
 */
export class GradientBuffers {
  private readonly arrays = new Map<string, Float32Array>();

  /** The table's array of `size` values (a new one when the size changed). */
  take(table: string, size: number): Float32Array {
    let a = this.arrays.get(table);
    if (a?.length !== size) this.arrays.set(table, (a = new Float32Array(size)));
    return a;
  }
}

/**
 * The value and row gradients of `objective` at the pulled rows; leaves no tensors behind. The gradients are new
 * arrays, or `into`'s when given.
 */
function objectiveAndGrads(pulled: readonly Pulled[], objective: Objective, into?: GradientBuffers): { result: StepResult; grads: RowGrad[] } {
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
      const out = objective(params);
      parts = Object.fromEntries(Object.entries(out.parts).map(([k, v]) => [k, tf.keep(v)]));
      return out.total;
    };
    const { value, grads } = tf.valueAndGrads(f)(trainable.map((i) => inputs[i]));
    const loss = value.dataSync()[0];
    const rowGrads = trainable.map((i, k) => ({
      table: pulled[i].spec.name,
      ids: pulled[i].ids,
      grad: into ? readFloatsInto(grads[k], into.take(pulled[i].spec.name, grads[k].size)) : (grads[k].dataSync() as Float32Array),
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

/** Computes loss and gradients for the pulled rows; leaves no tensors behind. */
export function lossAndGrads(
  model: AnyModel,
  batch: Batch,
  pulled: readonly Pulled[],
  prep: Prepared,
  hyper: Record<string, unknown>,
): { result: StepResult; grads: RowGrad[] } {
  return objectiveAndGrads(pulled, (params) => model.loss(params, batch, prep, hyper));
}

/**
 * One task of a distributed bsp step (docs/distributed.md): its triples, their share of the step's batch, and,
 * for the one task that computes the step's batch terms, the whole batch.
 */
export interface TaskShare {
  readonly batch: Batch;
  /** n_t / n: the task's triples over the step's. */
  readonly weight: number;
  /** The step's whole batch when this task computes the parts that are not means over triples; else null. */
  readonly whole: Batch | null;
  /**
   * `batch`'s message-flow blocks (`taskBlocks`) when the task computes its mean terms on them, reading only the
   * rows of their last frontier; absent: the model's `loss` on the rows its `rows` names.
   */
  readonly blocks?: Prepared;
}

/**
 * What a worker's task reads of the graph (docs/distributed.md §5): `full`, the model's own loss on the rows it
 * names (every row for LightGCN and CaMRec); `blocks`, its loss on the message-flow blocks of the task's triples,
 * from the rows of their L-hop neighbourhood alone. Both give the same numbers.
 */
export type Neighbourhood = 'full' | 'blocks';
export const NEIGHBOURHOODS: readonly Neighbourhood[] = ['full', 'blocks'];

/** Refuses `blocks` for a model without a block forward (ConfigError, one line naming it). */
export function checkNeighbourhood(model: AnyModel, mode: Neighbourhood): void {
  if (mode === 'blocks' && !model.neighbourhood) {
    throw new ConfigError(`--neighbourhood blocks: model ${model.name} has no block forward (docs/distributed.md §5); use --neighbourhood full`);
  }
}

/** The blocks of a task's triples under `mode` (null under `full`); the caller releases them after the task. */
export function taskBlocks(model: AnyModel, batch: Batch, prep: Prepared, hyper: Record<string, unknown>, mode: Neighbourhood): Prepared | null {
  checkNeighbourhood(model, mode);
  return mode === 'blocks' ? model.neighbourhood!.blocks(batch, prep, hyper) : null;
}

/** The rows a task reads: its triples' rows (on its blocks when it has them), and the batch terms' rows when it computes them. */
export function taskRows(model: AnyModel, share: TaskShare, prep: Prepared, hyper: Record<string, unknown>): Record<string, Int32Array | null> {
  const own = () => (share.blocks ? model.neighbourhood!.rows(share.blocks) : model.rows(share.batch, prep, hyper));
  const mine: Record<string, Int32Array | null> = (model.meanTerms?.length ?? 0) > 0 ? own() : {};
  if (!share.whole) return mine;
  const whole = model.batchTermRows ? model.batchTermRows(share.whole, prep, hyper) : model.rows(share.whole, prep, hyper);
  for (const [table, ids] of Object.entries(mine)) {
    const other = whole[table];
    whole[table] = ids === null || other === null ? null : other === undefined ? ids : uniqueSorted(ids, other);
  }
  return whole;
}

/**
 * A task's contribution to a bsp step, so that the contributions of a step's tasks sum to the step's loss and
 * gradient: `weight ×` each mean term over the task's triples, plus, for the task holding the whole batch, every
 * other part over the whole batch. `result.parts` are the contributions; `result.loss` their sum. With `into` the
 * gradients are its arrays (GradientBuffers).
 */
export function taskLossAndGrads(
  model: AnyModel,
  share: TaskShare,
  pulled: readonly Pulled[],
  prep: Prepared,
  hyper: Record<string, unknown>,
  into?: GradientBuffers,
): { result: StepResult; grads: RowGrad[] } {
  const mean = new Set(model.meanTerms ?? []);
  if (mean.size === 0 && !share.whole) return { result: { loss: 0, parts: {} }, grads: [] };
  return objectiveAndGrads(pulled, (params) => {
    const parts: Record<string, tf.Scalar> = {};
    if (mean.size > 0) {
      const own = share.blocks ? model.neighbourhood!.loss(params, share.batch, share.blocks, prep, hyper) : model.loss(params, share.batch, prep, hyper);
      for (const [k, v] of Object.entries(own.parts)) if (mean.has(k)) parts[k] = tf.mul(v, share.weight) as tf.Scalar;
    }
    if (share.whole) {
      const all = model.batchTerms ? model.batchTerms(params, share.whole, prep, hyper) : model.loss(params, share.whole, prep, hyper).parts;
      for (const [k, v] of Object.entries(all)) if (!mean.has(k)) parts[k] = v;
    }
    return { total: tf.addN(Object.values(parts)) as tf.Scalar, parts };
  }, into);
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
