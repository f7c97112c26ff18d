import { CounterRng, purposeKey } from '../random/index.js';

/** How a table's rows start. Each row draws from its own stream, so a shard can initialise its rows alone. */
export type TableInit =
  | { readonly kind: 'xavierUniform' }
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'uniform'; readonly bound: number }
  | { readonly kind: 'zeros' }
  | { readonly kind: 'values'; readonly values: Float32Array };

/** A parameter table: sparse rows (users, items) or a small dense tensor, both [rows, dim]. */
export interface TableSpec {
  readonly name: string;
  readonly rows: number;
  readonly dim: number;
  readonly init: TableInit;
  /** Frozen tables are read but never updated. */
  readonly trainable: boolean;
  /**
   * Every optimizer step updates every row, a row absent from the step's gradient with a zero gradient: dense
   * torch.optim.Adam on an nn.Embedding, as MMRec trains LightGCN (Adam's moments decay and keep moving the row).
   * Absent: lazy, only the rows in a step's gradient change (src/train/optimizer.ts). A dense table's gradient
   * may still name some rows only (a worker on message-flow blocks, docs/distributed.md §5): the result is the same.
   */
  readonly dense?: boolean;
}

/**
 * Fills a table's initial values. Xavier-uniform uses PyTorch's fan convention for an nn.Embedding weight
 * [rows, dim]: bound = sqrt(6 / (rows + dim)). Row r uses the stream (seed, 'init', key(table), 0, r).
 */
export function initTable(spec: TableSpec, seed: number): Float32Array {
  const out = new Float32Array(spec.rows * spec.dim);
  const init = spec.init;
  if (init.kind === 'zeros') return out;
  if (init.kind === 'values') {
    if (init.values.length !== out.length) {
      throw new RangeError(`table ${spec.name}: initial values have ${init.values.length} entries, expected ${out.length}`);
    }
    out.set(init.values);
    return out;
  }
  const rng = new CounterRng(seed);
  const key = purposeKey(spec.name);
  const bound = Math.sqrt(6 / (spec.rows + spec.dim));
  for (let r = 0; r < spec.rows; r++) {
    const s = rng.stream('init', key, 0, r);
    const base = r * spec.dim;
    for (let j = 0; j < spec.dim; j++) {
      if (init.kind === 'normal') out[base + j] = init.std * s.nextNormal();
      else out[base + j] = (2 * s.nextFloat() - 1) * (init.kind === 'uniform' ? init.bound : bound);
    }
  }
  return out;
}
