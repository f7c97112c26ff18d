/**
 * Where a table's rows live (DESIGN.md §5): a row-sharded table keeps row `id` on shard `id % S`, at local
 * index `floor(id / S)`; a dense tensor (a small table read whole) lives whole on one shard chosen by a
 * stable hash of its name, so every client and shard agree without asking.
 */
import { purposeKey } from '../random/index.js';
import type { TableSpec } from '../train/index.js';

export type Placement = 'rows' | 'whole';

/** Tables with at most this many rows are placed whole by default: MLP weights, codebooks, biases. */
export const WHOLE_MAX_ROWS = 1024;

/** The default placement: small tables whole, embedding tables (users, items) row-sharded. */
export function defaultPlacement(spec: TableSpec): Placement {
  return spec.rows <= WHOLE_MAX_ROWS ? 'whole' : 'rows';
}

/** The shard that holds a whole table: FNV-1a of the name, modulo the number of shards. */
export function wholeOwner(name: string, shards: number): number {
  return purposeKey(name) % shards;
}

/** How many rows of a `rows`-row table shard `shard` of `shards` holds when the table is row-sharded. */
export function localRowCount(rows: number, shard: number, shards: number): number {
  return rows > shard ? Math.floor((rows - shard - 1) / shards) + 1 : 0;
}

/** The table rows a shard holds, ascending: its global ids. */
export function heldIds(rows: number, placement: Placement, shard: number, shards: number): Uint32Array {
  if (placement === 'whole') return Uint32Array.from({ length: rows }, (_, i) => i);
  const n = localRowCount(rows, shard, shards);
  const out = new Uint32Array(n);
  for (let l = 0; l < n; l++) out[l] = l * shards + shard;
  return out;
}
