/**
 * The ParamStore seam (DESIGN.md §5): the trainer pulls the rows a step needs and pushes their gradients;
 * the store owns the tables and the optimizer. LocalParamStore keeps everything in plain Float32Arrays in this
 * process; the remote store (gRPC parameter server) implements the same interface.
 */
import { adamDense, allocHeapTable, freeHeapTable, type HeapTable } from '../compute/index.js';
import type { OptimizerConfig } from './optimizer.js';
import { applyRows, initialState } from './optimizer.js';
import type { TableSpec } from './tables.js';
import { initTable } from './tables.js';

/** A gradient for some rows of one table: ids sorted and unique (null: every row), one grad row per id. */
export interface RowGrad {
  readonly table: string;
  readonly ids: Int32Array | null;
  readonly grad: Float32Array;
}

/** Everything a store holds, for checkpoints: tables, optimizer state and the optimizer's step. */
export interface StoreState {
  readonly step: number;
  readonly tables: Record<string, { values: Float32Array; state: Float32Array[] }>;
}

export interface ParamStore {
  readonly specs: readonly TableSpec[];
  /** The optimizer steps applied so far. */
  readonly step: number;
  /**
   * Rows `ids` (null: all) of a table, row-major, in the order of `ids`. The array is lent to the caller: it holds
   * these values until the caller's next pull of the same table from this store, and must not be written. A store
   * may hand out its own copy of the table (RemoteParamStore's row cache, which that next pull updates in place);
   * a caller that needs the values longer, or wants to change them, copies them first.
   */
  pull(table: string, ids: Int32Array | null): Promise<Float32Array>;
  /** Applies one optimizer step: every gradient of the step together. */
  push(grads: readonly RowGrad[]): Promise<void>;
  exportState(): Promise<StoreState>;
  importState(state: StoreState): Promise<void>;
}

interface LocalTable {
  readonly spec: TableSpec;
  values: Float32Array;
  state: Float32Array[];
  /** Set when the table and its Adam moments live in the compute heap, for the SIMD dense update. */
  readonly heap?: HeapTable;
}

/** A dense table's gradient over every row: the rows `g` names, zero elsewhere (no gradient: all zero). */
function denseGrad(spec: TableSpec, g: RowGrad | undefined): RowGrad {
  if (g && g.ids === null) return g;
  const grad = new Float32Array(spec.rows * spec.dim);
  const dim = spec.dim;
  if (g) g.ids!.forEach((id, r) => grad.set(g.grad.subarray(r * dim, r * dim + dim), id * dim));
  return { table: spec.name, ids: null, grad };
}

export class LocalParamStore implements ParamStore {
  readonly specs: readonly TableSpec[];
  private readonly tables = new Map<string, LocalTable>();
  private steps = 0;

  constructor(specs: readonly TableSpec[], private readonly optimizer: OptimizerConfig, seed: number) {
    this.specs = specs;
    for (const spec of specs) {
      if (this.tables.has(spec.name)) throw new Error(`duplicate table ${spec.name}`);
      const values = initTable(spec, seed);
      if (spec.trainable && optimizer.kind === 'adam') {
        const t = allocHeapTable(spec.rows, spec.dim);
        t.values.set(values);
        this.tables.set(spec.name, { spec, values: t.values, state: [t.m, t.v], heap: t.table });
        continue;
      }
      const state = spec.trainable ? initialState(optimizer, values.length) : [];
      this.tables.set(spec.name, { spec, values, state });
    }
  }

  get step(): number {
    return this.steps;
  }

  async pull(table: string, ids: Int32Array | null): Promise<Float32Array> {
    return this.pullSync(table, ids);
  }

  /** The synchronous form of pull, for in-process callers such as evaluation. */
  pullSync(table: string, ids: Int32Array | null): Float32Array {
    const t = this.table(table);
    if (!ids) return t.values.slice();
    const dim = t.spec.dim;
    const out = new Float32Array(ids.length * dim);
    for (let r = 0; r < ids.length; r++) {
      const id = ids[r];
      if (id < 0 || id >= t.spec.rows) throw new RangeError(`table ${table}: row ${id} out of range [0, ${t.spec.rows})`);
      out.set(t.values.subarray(id * dim, id * dim + dim), r * dim);
    }
    return out;
  }

  async push(grads: readonly RowGrad[]): Promise<void> {
    for (const g of grads) this.checkGrad(g);
    const step = this.steps + 1;
    const apply = (t: LocalTable, g: RowGrad) => {
      if (t.heap && g.ids === null && this.optimizer.kind === 'adam') adamDense(t.heap, g.grad, this.optimizer, step);
      else applyRows(this.optimizer, t.values, t.state, t.spec.dim, g.ids, g.grad, step);
    };
    for (const g of grads) {
      const t = this.table(g.table);
      apply(t, t.spec.dense ? denseGrad(t.spec, g) : g);
    }
    const named = new Set(grads.map((g) => g.table));
    for (const t of this.tables.values()) if (t.spec.dense && t.spec.trainable && !named.has(t.spec.name)) apply(t, denseGrad(t.spec, undefined));
    this.steps = step;
  }

  async exportState(): Promise<StoreState> {
    const tables: StoreState['tables'] = {};
    for (const [name, t] of this.tables) tables[name] = { values: t.values.slice(), state: t.state.map((s) => s.slice()) };
    return { step: this.steps, tables };
  }

  async importState(state: StoreState): Promise<void> {
    for (const [name, t] of this.tables) {
      const s = state.tables[name];
      if (!s) throw new Error(`state has no table ${name}`);
      if (s.values.length !== t.values.length || s.state.length !== t.state.length) {
        throw new Error(`state for table ${name} has another shape`);
      }
      t.values.set(s.values);
      t.state.forEach((x, k) => x.set(s.state[k]));
    }
    this.steps = state.step;
  }

  /** Frees the tables' memory in the compute heap; the store is unusable afterwards. */
  dispose(): void {
    for (const t of this.tables.values()) if (t.heap) freeHeapTable(t.heap);
    this.tables.clear();
  }

  private table(name: string): LocalTable {
    const t = this.tables.get(name);
    if (!t) throw new Error(`unknown table ${name}; known: ${[...this.tables.keys()].join(', ')}`);
    return t;
  }

  private checkGrad(g: RowGrad): void {
    const t = this.table(g.table);
    if (!t.spec.trainable) throw new Error(`table ${g.table} is frozen`);
    if (!g.ids) return;
    for (let i = 0; i < g.ids.length; i++) {
      const id = g.ids[i];
      if (id < 0 || id >= t.spec.rows) throw new RangeError(`table ${g.table}: row ${id} out of range`);
      if (i > 0 && id <= g.ids[i - 1]) throw new RangeError(`table ${g.table}: ids must be sorted and unique`);
    }
  }
}
