/**
 * Translation between wire messages (proto.ts) and the shard's and clients' own types. Shared by the server
 * and the client so that both read and write the same encoding.
 */
import type { OptimizerConfig, TableInit, TableSpec } from '../train/index.js';
import { InvalidRequest } from './errors.js';
import type { Placement } from './placement.js';
import type { ConsistencyMsg, OptimizerMsg, PlacementMsg, RowBlockMsg, TableDefMsg } from './proto.js';
import type { Consistency, RowBlockIn, ShardTableDef } from './shard.js';
import { bytesOf, floatsOf, uintsOf } from './wire.js';

export function placementToMsg(p: Placement): PlacementMsg {
  return p === 'whole' ? 'PLACEMENT_WHOLE' : 'PLACEMENT_ROWS';
}

export function placementFromMsg(p: PlacementMsg): Placement {
  return p === 'PLACEMENT_WHOLE' ? 'whole' : 'rows';
}

export function optimizerToMsg(o: OptimizerConfig): OptimizerMsg {
  return o.kind === 'adam'
    ? { kind: 'adam', lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, initialAccumulator: 0 }
    : { kind: 'adagrad', lr: o.lr, beta1: 0, beta2: 0, eps: o.eps, initialAccumulator: o.initialAccumulator };
}

export function optimizerFromMsg(m: OptimizerMsg | null): OptimizerConfig {
  if (m?.kind === 'adam') return { kind: 'adam', lr: m.lr, beta1: m.beta1, beta2: m.beta2, eps: m.eps };
  if (m?.kind === 'adagrad') return { kind: 'adagrad', lr: m.lr, eps: m.eps, initialAccumulator: m.initialAccumulator };
  throw new InvalidRequest(`unknown optimizer '${m?.kind ?? ''}' (known: adam, adagrad)`);
}

export function consistencyToMsg(c: Consistency): ConsistencyMsg {
  return c.mode === 'ssp' ? { mode: 'ssp', staleness: c.staleness, workers: c.workers } : { mode: c.mode, staleness: 0, workers: 0 };
}

export function consistencyFromMsg(m: ConsistencyMsg | null): Consistency {
  const mode = m?.mode || 'bsp';
  if (mode === 'bsp' || mode === 'async') return { mode };
  if (mode === 'ssp') return { mode, staleness: m!.staleness, workers: m!.workers };
  throw new InvalidRequest(`unknown consistency mode '${mode}' (known: bsp, ssp, async)`);
}

/** A table definition for one shard: a 'values' init carries only the rows `held` (that shard's, ascending). */
export function tableDefToMsg(spec: TableSpec, placement: Placement, held: Uint32Array | null): TableDefMsg {
  const { values: _v, ...init } = spec.init as TableInit & { values?: Float32Array };
  let values = new Float32Array(0);
  if (spec.init.kind === 'values' && held) {
    values = new Float32Array(held.length * spec.dim);
    held.forEach((id, r) => values.set((spec.init as { values: Float32Array }).values.subarray(id * spec.dim, id * spec.dim + spec.dim), r * spec.dim));
  }
  return { name: spec.name, rows: spec.rows, dim: spec.dim, trainable: spec.trainable, placement: placementToMsg(placement), init: JSON.stringify(init), values: bytesOf(values), dense: spec.dense ?? false };
}

export function tableDefFromMsg(m: TableDefMsg): ShardTableDef {
  let init: TableInit;
  try {
    init = JSON.parse(m.init) as TableInit;
  } catch (err) {
    throw new InvalidRequest(`table ${m.name}: init is not JSON: ${m.init}`, { cause: err });
  }
  if (init.kind === 'values') init = { kind: 'values', values: floatsOf(m.values, `table ${m.name} initial values`).slice() };
  // absent rather than false, so that the fingerprint of a lazy table's configuration is what it was before `dense`
  return { name: m.name, rows: m.rows, dim: m.dim, trainable: m.trainable, ...(m.dense ? { dense: true } : {}), placement: placementFromMsg(m.placement), init };
}

export function rowBlockFromMsg(m: RowBlockMsg): RowBlockIn {
  return {
    table: m.table,
    ids: m.allRows ? null : uintsOf(m.ids, `table ${m.table} ids`),
    values: floatsOf(m.values, `table ${m.table} values`),
  };
}
