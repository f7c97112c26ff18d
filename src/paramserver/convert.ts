/**
 * Translation between wire messages (proto.ts) and the shard's and clients' own types. Shared by the server
 * and the client so that both read and write the same encoding.
 */
import type { OptimizerConfig, TableInit, TableSpec } from '../train/index.js';
import { floatValues, WIRE_ENCODINGS, type WireEncoding } from './encoding.js';
import { InvalidRequest } from './errors.js';
import type { Placement } from './placement.js';
import type { ConsistencyMsg, OptimizerMsg, PlacementMsg, RowBlockMsg, TableDefMsg, ValueEncodingMsg } from './proto.js';
import type { Consistency, RowBlockIn, ShardTableDef } from './shard.js';
import { bytesOf, floatsOf, uintsOf, wireValuesOf } from './wire.js';

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

const ENCODING_MSG: Record<WireEncoding, ValueEncodingMsg> = { f32: 'VALUE_ENCODING_F32', bf16: 'VALUE_ENCODING_BF16', f16: 'VALUE_ENCODING_F16' };

/** A message's `encoding` field: left out for float32, so that such messages stay byte for byte what they were before it. */
export function encodingToMsg(e: WireEncoding): ValueEncodingMsg | undefined {
  return e === 'f32' ? undefined : ENCODING_MSG[e];
}

/** The encoding a message's field names (absent: float32); one this build does not know is an InvalidRequest. */
export function encodingFromMsg(m: ValueEncodingMsg | undefined, what: string): WireEncoding {
  if (m === undefined) return 'f32';
  const e = typeof m === 'number' ? WIRE_ENCODINGS[m] : WIRE_ENCODINGS.find((k) => ENCODING_MSG[k] === m);
  if (e) return e;
  throw new InvalidRequest(`${what}: unknown value encoding ${JSON.stringify(m)} (known: ${WIRE_ENCODINGS.map((k) => ENCODING_MSG[k]).join(', ')})`);
}

/** A pushed block, its values widened to float32 when they travelled in 16 bits. */
export function rowBlockFromMsg(m: RowBlockMsg): RowBlockIn {
  const what = `table ${m.table}`;
  return {
    table: m.table,
    ids: m.allRows ? null : uintsOf(m.ids, `${what} ids`),
    values: floatValues(wireValuesOf(m.values, encodingFromMsg(m.encoding, what), `${what} values`)),
    wireBytes: m.values.byteLength,
  };
}
