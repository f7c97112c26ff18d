/**
 * Row-wise sparse optimizers. Only the rows named in an update change: the parameters and the optimizer
 * state of every other row are left as they are (a "lazy" optimizer, like TensorFlow's LazyAdam and
 * PyTorch's SparseAdam). When every row is updated at every step the result equals dense torch.optim.Adam.
 * The parameter server runs this same code on its shards (DESIGN.md §5).
 *
 * With the optional native addon the loops run there (native/optimizer.cc), in double precision in the same
 * order of operations as the loops below, so they give the same bits; only the time differs (a 16384-row
 * update of 64-d rows took about 17 ms in the JavaScript loop).
 */
import { nativeKernels } from '../compute/pool.js';
import type { NativeKernels } from '../compute/native.js';

export interface AdamConfig {
  readonly kind: 'adam';
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
}

export interface AdagradConfig {
  readonly kind: 'adagrad';
  readonly lr: number;
  readonly eps: number;
  readonly initialAccumulator: number;
}

export type OptimizerConfig = AdamConfig | AdagradConfig;

export function adam(lr: number, beta1 = 0.9, beta2 = 0.999, eps = 1e-8): AdamConfig {
  return { kind: 'adam', lr, beta1, beta2, eps };
}

export function adagrad(lr: number, eps = 1e-10, initialAccumulator = 0): AdagradConfig {
  return { kind: 'adagrad', lr, eps, initialAccumulator };
}

/** Number of state arrays the optimizer keeps per table (each the table's size). */
export function stateSlots(cfg: OptimizerConfig): number {
  return cfg.kind === 'adam' ? 2 : 1;
}

export function initialState(cfg: OptimizerConfig, size: number): Float32Array[] {
  if (cfg.kind === 'adam') return [new Float32Array(size), new Float32Array(size)];
  return [new Float32Array(size).fill(cfg.initialAccumulator)];
}

/**
 * Applies one update to the rows `ids` (null: every row, in order) of a [rows, dim] table.
 * `grad` holds one row per id, in the order of `ids`. `step` is the optimizer's global step, from 1.
 */
export function applyRows(
  cfg: OptimizerConfig,
  param: Float32Array,
  state: Float32Array[],
  dim: number,
  ids: Int32Array | null,
  grad: Float32Array,
  step: number,
  native: NativeKernels | null = nativeKernels(),
): void {
  const n = ids ? ids.length : param.length / dim;
  if (grad.length !== n * dim) throw new RangeError(`gradient has ${grad.length} values, expected ${n * dim}`);
  if (cfg.kind === 'adam') {
    const stepSize = cfg.lr / (1 - Math.pow(cfg.beta1, step));
    const sqrtBc2 = Math.sqrt(1 - Math.pow(cfg.beta2, step));
    if (native) native.adamRows(param, state[0], state[1], ids, grad, dim, cfg.beta1, cfg.beta2, stepSize, sqrtBc2, cfg.eps);
    else adamRows(cfg, param, state[0], state[1], dim, ids, grad, n, stepSize, sqrtBc2);
  } else if (native) {
    native.adagradRows(param, state[0], ids, grad, dim, cfg.lr, cfg.eps);
  } else {
    adagradRows(cfg, param, state[0], dim, ids, grad, n);
  }
}

/**
 * Adam (Kingma & Ba 2015, Algorithm 1) in PyTorch's arrangement:
 * m ← β1 m + (1-β1) g;  v ← β2 v + (1-β2) g²;  p ← p − (lr / (1-β1^t)) · m / (√v / √(1-β2^t) + ε).
 * stepSize = lr / (1-β1^t) and sqrtBc2 = √(1-β2^t) come from the caller.
 */
function adamRows(
  cfg: AdamConfig,
  p: Float32Array,
  m: Float32Array,
  v: Float32Array,
  dim: number,
  ids: Int32Array | null,
  g: Float32Array,
  n: number,
  stepSize: number,
  sqrtBc2: number,
): void {
  const { beta1, beta2, eps } = cfg;
  for (let r = 0; r < n; r++) {
    const base = (ids ? ids[r] : r) * dim;
    const gb = r * dim;
    for (let j = 0; j < dim; j++) {
      const gj = g[gb + j];
      const mj = (m[base + j] = beta1 * m[base + j] + (1 - beta1) * gj);
      const vj = (v[base + j] = beta2 * v[base + j] + (1 - beta2) * gj * gj);
      p[base + j] -= (stepSize * mj) / (Math.sqrt(vj) / sqrtBc2 + eps);
    }
  }
}

/** Adagrad (Duchi et al. 2011) as PyTorch: s ← s + g²;  p ← p − lr · g / (√s + ε). */
function adagradRows(
  cfg: AdagradConfig,
  p: Float32Array,
  s: Float32Array,
  dim: number,
  ids: Int32Array | null,
  g: Float32Array,
  n: number,
): void {
  const { lr, eps } = cfg;
  for (let r = 0; r < n; r++) {
    const base = (ids ? ids[r] : r) * dim;
    const gb = r * dim;
    for (let j = 0; j < dim; j++) {
      const gj = g[gb + j];
      const sj = (s[base + j] += gj * gj);
      p[base + j] -= (lr * gj) / (Math.sqrt(sj) + eps);
    }
  }
}
