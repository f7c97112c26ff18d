/**
 * One parameter-server shard's state and rules, free of any network (DESIGN.md §5, docs/paramserver.md):
 * the rows it holds, their optimizer state, per-table and per-row versions, exactly-once application by
 * (task, attempt), the two-phase bsp step and the ssp clocks. The gRPC service only translates to and from it.
 * Every method checks its whole request before it changes anything, so a refused request leaves no trace.
 */
import { createHash, randomInt } from 'node:crypto';
import { StaleVersion } from '../errors/index.js';
import { applyRows, initialState, initTable, type OptimizerConfig, type TableInit } from '../train/index.js';
import { Fenced, InvalidRequest, NotReady } from './errors.js';
import { heldIds, localRowCount, wholeOwner, type Placement } from './placement.js';
import { writeRows, type WireValues } from './encoding.js';
import { gatherRows } from './wire.js';

export type Consistency =
  | { readonly mode: 'bsp' }
  | { readonly mode: 'async' }
  | { readonly mode: 'ssp'; readonly staleness: number; readonly workers: number };

/** A table as a shard sees it. For init kind 'values' the values are the rows this shard holds, ascending. */
export interface ShardTableDef {
  readonly name: string;
  readonly rows: number;
  readonly dim: number;
  readonly trainable: boolean;
  /** Every step updates every held row (TableSpec.dense). */
  readonly dense?: boolean;
  readonly placement: Placement;
  readonly init: TableInit;
}

export interface ShardConfig {
  readonly shard: number;
  readonly shards: number;
  readonly seed: number;
  readonly optimizer: OptimizerConfig;
  readonly consistency: Consistency;
  readonly tables: readonly ShardTableDef[];
}

/** Rows of one table in a push or prepare: `ids` sorted global ids (null: every row this shard holds). */
export interface RowBlockIn {
  readonly table: string;
  readonly ids: Uint32Array | null;
  readonly values: Float32Array;
  /** The values' bytes as they travelled (16-bit values are widened on arrival); default values.byteLength. */
  readonly wireBytes?: number;
}

export interface PullOut {
  /** Global ids of the rows returned, ascending. */
  readonly ids: Uint32Array;
  readonly values: Float32Array;
  readonly rowVersions: Uint32Array;
  readonly version: number;
  /** This state's incarnation: versions from another one are not comparable (a row cache starts over). */
  readonly incarnation: number;
}

/** A pull's rows, not yet copied (ShardState.read). */
export interface PullRows {
  /** Global ids of the rows, ascending. */
  readonly ids: Uint32Array;
  readonly dim: number;
  readonly version: number;
  readonly incarnation: number;
  /** Copies the rows' values ([ids.length, dim], narrowed when `values` is 16-bit) and row versions into these arrays. */
  copyTo(values: WireValues, rowVersions: Uint32Array): void;
}

export interface TableInfo {
  readonly name: string;
  readonly rows: number;
  readonly dim: number;
  readonly trainable: boolean;
  readonly placement: Placement;
  /** The shard holding a whole table; -1 for a row-sharded one. */
  readonly owner: number;
  readonly localRows: number;
  readonly version: number;
}

export interface ShardCounters {
  rowsPulled: number;
  rowsPushed: number;
  bytesPulled: number;
  bytesPushed: number;
  pulls: number;
  pushes: number;
  commits: number;
  aborts: number;
  duplicates: number;
  /** Task gradients applied: each task of a committed bsp step, each push applied under ssp/async. */
  tasksApplied: number;
}

/** A table this shard holds. */
interface Held {
  readonly def: ShardTableDef;
  readonly local: number;
  readonly values: Float32Array;
  readonly state: Float32Array[];
  readonly rowVersions: Uint32Array;
  version: number;
  /** Where a step's gradients for every held row are summed, kept from step to step (null until needed). */
  sumScratch: Float32Array | null;
}

/** A block checked against its table: local row indices (null: every held row) and gradient rows. */
interface Resolved {
  readonly held: Held;
  readonly local: Int32Array | null;
  readonly grad: Float32Array;
  readonly wireBytes: number;
}

interface StagedTask {
  readonly attempt: number;
  readonly blocks: readonly Resolved[];
}

interface Waiter {
  readonly clock: number;
  readonly resolve: (minClock: number) => void;
  readonly reject: (err: Error) => void;
}

/** The arrays and counters of a shard, for checkpoints (src/paramserver/checkpoint.ts). */
export interface ShardSnapshot {
  readonly config: ShardConfig;
  readonly fingerprint: string;
  readonly step: number;
  readonly tables: readonly { name: string; version: number; values: Float32Array; state: Float32Array[]; rowVersions: Uint32Array }[];
  /** Tasks applied: [task, attempt, step]. */
  readonly applied: readonly (readonly [string, number, number])[];
  /** The coordinator generation the shard followed (0, or absent in older checkpoints: never fenced). */
  readonly generation?: number;
}

/** In bsp a committed step's tasks are remembered this many steps; older ones are refused as stale anyway. */
const BSP_APPLIED_RETAIN = 1024;

export class ShardState {
  readonly counters: ShardCounters = {
    rowsPulled: 0,
    rowsPushed: 0,
    bytesPulled: 0,
    bytesPushed: 0,
    pulls: 0,
    pushes: 0,
    commits: 0,
    aborts: 0,
    duplicates: 0,
    tasksApplied: 0,
  };
  private readonly defs = new Map<string, ShardTableDef>();
  private readonly held = new Map<string, Held>();
  private steps: number;
  private readonly applied = new Map<string, { attempt: number; step: number }>();
  private staged: { step: number; tasks: Map<string, StagedTask> } | null = null;
  private abortedStep = -1;
  /** See fence(). */
  private fenced = 0;
  private readonly clocks: number[];
  private waiters: Waiter[] = [];
  /** Prefetching pulls waiting for a table version (`untilVersion`). */
  private pullsHeld: HeldPull[] = [];
  /** Drawn per created or restored state; 48 bits, exact as a JS number and a uint64. */
  readonly incarnation = randomInt(1, 2 ** 48 - 1);

  private constructor(
    readonly config: ShardConfig,
    readonly fingerprint: string,
    tables: ReadonlyMap<string, { values: Float32Array; state: Float32Array[]; rowVersions: Uint32Array; version: number }>,
    step: number,
  ) {
    checkConfig(config);
    for (const def of config.tables) {
      this.defs.set(def.name, def);
      const t = tables.get(def.name);
      if (t) this.held.set(def.name, { def, local: t.values.length / def.dim, ...t, sumScratch: null });
    }
    this.steps = step;
    this.clocks = new Array<number>(config.consistency.mode === 'ssp' ? config.consistency.workers : 0).fill(0);
  }

  /** A fresh shard: its rows start as `initTable` would start them in one process (same seed, same streams). */
  static create(config: ShardConfig): ShardState {
    checkConfig(config);
    const tables = new Map<string, { values: Float32Array; state: Float32Array[]; rowVersions: Uint32Array; version: number }>();
    for (const def of config.tables) {
      const ids = holds(def, config) ? heldIds(def.rows, def.placement, config.shard, config.shards) : null;
      if (!ids) continue;
      const values = initialValues(def, ids, config.seed);
      const state = def.trainable ? initialState(config.optimizer, values.length) : [];
      tables.set(def.name, { values, state, rowVersions: new Uint32Array(ids.length), version: 0 });
    }
    return new ShardState(config, configFingerprint(config), tables, 0);
  }

  static restore(snap: ShardSnapshot): ShardState {
    const tables = new Map(snap.tables.map((t) => [t.name, t]));
    for (const def of snap.config.tables) {
      if (holds(def, snap.config) !== tables.has(def.name)) throw new InvalidRequest(`snapshot: table ${def.name} held where it should not be, or missing`);
    }
    const shard = new ShardState(snap.config, snap.fingerprint, tables, snap.step);
    for (const [task, attempt, step] of snap.applied) shard.applied.set(task, { attempt, step });
    shard.fenced = snap.generation ?? 0;
    return shard;
  }

  get step(): number {
    return this.steps;
  }

  /** The coordinator generation this shard follows: 0 until a coordinator fences it. */
  get generation(): number {
    return this.fenced;
  }

  /**
   * A coordinator that takes over a job (a fresh start or a resume) raises the fence to its own generation, one
   * above any the shards have followed. From then on Push, Prepare, Commit and Abort from an older generation
   * are refused as stale: a worker still finishing a task leased by the coordinator that died cannot stage a
   * gradient computed on parameters the new coordinator rolled back. The fence never goes down.
   */
  fence(generation: number): number {
    if (!(Number.isSafeInteger(generation) && generation >= 0)) throw new InvalidRequest(`fence: generation must be a non-negative integer, got ${generation}`);
    this.fenced = Math.max(this.fenced, generation);
    return this.fenced;
  }

  /** Tasks staged for the next bsp step. */
  get stagedTasks(): number {
    return this.staged?.tasks.size ?? 0;
  }

  get clockWaiters(): number {
    return this.waiters.length;
  }

  describe(): TableInfo[] {
    const { shard, shards } = this.config;
    return this.config.tables.map((d) => ({
      name: d.name,
      rows: d.rows,
      dim: d.dim,
      trainable: d.trainable,
      placement: d.placement,
      owner: d.placement === 'whole' ? wholeOwner(d.name, shards) : -1,
      localRows: holds(d, this.config) ? (d.placement === 'whole' ? d.rows : localRowCount(d.rows, shard, shards)) : 0,
      version: this.held.get(d.name)?.version ?? 0,
    }));
  }

  versions(): { table: string; version: number }[] {
    return [...this.held.values()].map((h) => ({ table: h.def.name, version: h.version }));
  }

  /** Rows `ids` (null: every held row); with `since`, only those whose version is greater (a worker's row cache). */
  pull(table: string, ids: Uint32Array | null, since: number | null = null): PullOut {
    const r = this.read(table, ids, since);
    const values = new Float32Array(r.ids.length * r.dim);
    const rowVersions = new Uint32Array(r.ids.length);
    r.copyTo({ encoding: 'f32', array: values }, rowVersions);
    return { ids: r.ids, values, rowVersions, version: r.version, incarnation: r.incarnation };
  }

  /**
   * What `pull` returns, before it is copied: the rows' global ids and a function that copies their values and
   * row versions into arrays the caller provides (the server's reply message, so the rows are copied once). The
   * copy must happen before anything else runs on this shard.
   */
  read(table: string, ids: Uint32Array | null, since: number | null = null): PullRows {
    const h = this.table(table);
    let local = ids ? this.localIds(h, ids) : null;
    const asked = ids ?? heldIds(h.def.rows, h.def.placement, this.config.shard, this.config.shards);
    let global = asked;
    const changed = since === null ? null : changedRows(h, local, since);
    if (changed) {
      local = changed.local;
      global = changed.positions.map((p) => asked[p]);
    }
    const dim = h.def.dim;
    this.counters.pulls++;
    this.counters.rowsPulled += global.length;
    return {
      ids: global,
      dim,
      version: h.version,
      incarnation: this.incarnation,
      copyTo: (values, rowVersions) => {
        this.counters.bytesPulled += values.array.byteLength + global.byteLength;
        writeRows(values, h.values, dim, local);
        if (!local) rowVersions.set(h.rowVersions);
        else for (let k = 0; k < local.length; k++) rowVersions[k] = h.rowVersions[local[k]];
      },
    };
  }

  /** async and ssp: applies one worker's gradients on arrival, once per (task, attempt). */
  push(task: string, attempt: number, blocks: readonly RowBlockIn[], generation = 0): { duplicate: boolean } {
    if (this.config.consistency.mode === 'bsp') throw new NotReady('this shard runs bsp: stage with Prepare and apply with Commit');
    this.admit(generation, `push of task ${task}`);
    const resolved = this.resolveBlocks(blocks);
    if (this.seen(task, attempt)) return { duplicate: true };
    const step = this.steps + 1;
    this.applyStep([resolved], step);
    this.applied.set(task, { attempt, step });
    this.counters.pushes++;
    this.counters.tasksApplied++;
    return { duplicate: false };
  }

  /** bsp phase one: stages a task's gradients for `step` (the next one); nothing changes until Commit. */
  prepare(step: number, task: string, attempt: number, blocks: readonly RowBlockIn[], generation = 0): { duplicate: boolean } {
    if (this.config.consistency.mode !== 'bsp') throw new NotReady(`this shard runs ${this.config.consistency.mode}: use Push`);
    this.admit(generation, `prepare of task ${task}`);
    const resolved = this.resolveBlocks(blocks);
    if (this.seen(task, attempt)) return { duplicate: true };
    if (step <= this.steps) throw new StaleVersion(`step ${step} is already committed (shard ${this.config.shard} is at step ${this.steps})`);
    if (step > this.steps + 1) throw new NotReady(`step ${step} cannot be prepared before step ${this.steps + 1} is committed`);
    const staged = this.staged?.step === step ? this.staged : { step, tasks: new Map<string, StagedTask>() };
    const prior = staged.tasks.get(task);
    if (prior && prior.attempt === attempt) {
      this.counters.duplicates++;
      return { duplicate: true };
    }
    if (prior && prior.attempt > attempt) throw new StaleVersion(`task ${task}: attempt ${prior.attempt} is staged, attempt ${attempt} is stale`);
    staged.tasks.set(task, { attempt, blocks: resolved });
    this.staged = staged;
    this.abortedStep = -1;
    return { duplicate: false };
  }

  /** bsp phase two: applies the step once, as the sum of its staged gradients (in task order), at optimizer step `step`. */
  commit(step: number, tasks: readonly string[] = [], generation = 0): { tasks: number } {
    this.admit(generation, `commit of step ${step}`);
    if (step <= this.steps) throw new StaleVersion(`step ${step} is already committed (shard ${this.config.shard} is at step ${this.steps})`);
    if (this.staged?.step !== step) {
      if (this.abortedStep === step) throw new StaleVersion(`step ${step} was aborted`);
      throw new NotReady(`step ${step} has no prepared task on shard ${this.config.shard}`);
    }
    const staged = this.staged.tasks;
    checkCommitTasks(staged, tasks, step);
    const order = [...staged.keys()].sort();
    this.applyStep(order.map((k) => staged.get(k)!.blocks), step);
    for (const k of order) this.applied.set(k, { attempt: staged.get(k)!.attempt, step });
    this.staged = null;
    this.counters.commits++;
    this.counters.tasksApplied += order.length;
    this.forgetOldTasks();
    return { tasks: order.length };
  }

  /** Discards what was staged for `step`; a later Commit of it is refused as stale until it is prepared again. */
  abort(step: number, generation = 0): { discarded: number } {
    this.admit(generation, `abort of step ${step}`);
    if (step <= this.steps) throw new StaleVersion(`step ${step} is already committed (shard ${this.config.shard} is at step ${this.steps})`);
    const discarded = this.staged?.step === step ? this.staged.tasks.size : 0;
    if (this.staged?.step === step) this.staged = null;
    this.abortedStep = step;
    this.counters.aborts++;
    return { discarded };
  }

  /**
   * ssp: worker `worker` has finished `clock` steps. Resolves with the slowest worker's clock once `clock` is at
   * most `staleness` ahead of it (Ho et al., NIPS 2013); until then the call waits.
   */
  clock(worker: number, clock: number): Promise<{ minClock: number; waited: boolean }> {
    const c = this.config.consistency;
    if (c.mode !== 'ssp') return Promise.reject(new NotReady(`this shard runs ${c.mode}: clocks are for ssp`));
    if (!Number.isInteger(worker) || worker < 0 || worker >= c.workers) {
      return Promise.reject(new InvalidRequest(`worker ${worker} out of range [0, ${c.workers})`));
    }
    this.clocks[worker] = Math.max(this.clocks[worker], clock);
    this.wakeWaiters();
    if (clock - this.minClock() <= c.staleness) return Promise.resolve({ minClock: this.minClock(), waited: false });
    return new Promise((resolve, reject) => {
      this.waiters.push({ clock, resolve: (minClock) => resolve({ minClock, waited: true }), reject });
    });
  }

  /** Fails every waiting Clock call and answers every held pull (shutdown). */
  cancelWaiters(err: Error): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.reject(err);
    this.releaseHeld(() => true);
  }

  /**
   * A prefetch's hold: null when `table` is already at `version` or beyond, else a promise that resolves once it
   * is (an update of the table) or after `holdMs`, whichever comes first. Throws for an unknown table.
   */
  untilVersion(table: string, version: number, holdMs: number): Promise<void> | null {
    const h = this.table(table);
    if (h.version >= version || holdMs <= 0) return null;
    return new Promise((resolve) => {
      const held: HeldPull = { table, version, resolve: () => (clearTimeout(held.timer), resolve()), timer: setTimeout(() => this.releaseHeld((x) => x === held), holdMs) };
      this.pullsHeld.push(held);
    });
  }

  /** Pulls held for a version (prefetches). */
  get heldPulls(): number {
    return this.pullsHeld.length;
  }

  /** Answers the held pulls whose table has reached their version. */
  private wakeHeld(): void {
    this.releaseHeld((x) => (this.held.get(x.table)?.version ?? Infinity) >= x.version);
  }

  private releaseHeld(which: (x: HeldPull) => boolean): void {
    const go = this.pullsHeld.filter(which);
    if (go.length === 0) return;
    this.pullsHeld = this.pullsHeld.filter((x) => !which(x));
    for (const x of go) x.resolve();
  }

  /** Every held array in pieces of at most `maxRows` rows: values (slot -1), then each optimizer state slot. */
  *exportChunks(maxRows: number): Generator<{ table: string; slot: number; firstRow: number; rows: number; values: Float32Array }> {
    for (const h of this.held.values()) {
      const arrays = [h.values, ...h.state];
      const step = Math.max(1, maxRows);
      for (let k = 0; k < arrays.length; k++) {
        for (let r = 0; r < h.local; r += step) {
          const rows = Math.min(step, h.local - r);
          yield { table: h.def.name, slot: k - 1, firstRow: r, rows, values: arrays[k].subarray(r * h.def.dim, (r + rows) * h.def.dim) };
        }
      }
    }
  }

  /**
   * Replaces every held array and the step with imported ones, all or nothing: the chunks must cover every
   * array of every held table, in order. Counts as one update of every table (caches refetch). Task keys applied
   * after `step` are forgotten.
   */
  importState(step: number, chunks: Iterable<{ table: string; slot: number; firstRow: number; values: Float32Array }>): void {
    const fresh = new Map([...this.held.values()].map((h) => [h.def.name, { h, arrays: [h.values, ...h.state].map((a) => new Float32Array(a.length)), next: [h.values, ...h.state].map(() => 0) }]));
    for (const c of chunks) {
      const f = fresh.get(c.table);
      if (!f) throw new InvalidRequest(`import: unknown table '${c.table}' for shard ${this.config.shard}`);
      const k = c.slot + 1;
      if (k < 0 || k >= f.arrays.length) throw new InvalidRequest(`import: table ${c.table} has no slot ${c.slot}`);
      const at = c.firstRow * f.h.def.dim;
      if (at !== f.next[k] || at + c.values.length > f.arrays[k].length || c.values.length % f.h.def.dim !== 0) {
        throw new InvalidRequest(`import: table ${c.table} slot ${c.slot}: chunk at row ${c.firstRow} is out of order or the wrong size`);
      }
      f.arrays[k].set(c.values, at);
      f.next[k] = at + c.values.length;
    }
    for (const f of fresh.values()) {
      if (f.next.some((n, k) => n !== f.arrays[k].length)) throw new InvalidRequest(`import: table ${f.h.def.name} is incomplete`);
    }
    for (const f of fresh.values()) {
      f.h.values.set(f.arrays[0]);
      f.h.state.forEach((s, k) => s.set(f.arrays[k + 1]));
      f.h.version++;
      f.h.rowVersions.fill(f.h.version);
    }
    this.steps = step;
    this.staged = null;
    this.abortedStep = -1;
    // The import rolls the shard back to `step`: updates applied after it are gone, so are their task keys (a
    // resumed job redoes those tasks under the same keys).
    for (const [task, a] of this.applied) if (a.step > step) this.applied.delete(task);
    this.wakeHeld();
  }

  snapshot(): ShardSnapshot {
    return {
      config: this.config,
      fingerprint: this.fingerprint,
      step: this.steps,
      tables: [...this.held.values()].map((h) => ({ name: h.def.name, version: h.version, values: h.values, state: h.state, rowVersions: h.rowVersions })),
      applied: [...this.applied].map(([task, a]) => [task, a.attempt, a.step] as const),
      generation: this.fenced,
    };
  }

  private admit(generation: number, what: string): void {
    if (generation < this.fenced) {
      throw new Fenced(`${what} comes from coordinator generation ${generation}, fenced off: shard ${this.config.shard} follows generation ${this.fenced} (a newer coordinator took over the job)`);
    }
  }

  private table(name: string): Held {
    const h = this.held.get(name);
    if (h) return h;
    const def = this.defs.get(name);
    if (def) throw new InvalidRequest(`table '${name}' is held whole by shard ${wholeOwner(name, this.config.shards)}, not shard ${this.config.shard}`);
    throw new InvalidRequest(`unknown table '${name}'; known: ${[...this.defs.keys()].join(', ')}`);
  }

  /** Checks ids (sorted, unique, in range, held here) and maps them to local row indices. */
  private localIds(h: Held, ids: Uint32Array): Int32Array {
    const { shard, shards } = this.config;
    const { name, rows, placement } = h.def;
    const out = new Int32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (i > 0 && id <= ids[i - 1]) throw new InvalidRequest(`table ${name}: ids must be sorted and unique (${ids[i - 1]} then ${id} at position ${i})`);
      if (id >= rows) throw new InvalidRequest(`table ${name}: row ${id} out of range [0, ${rows})`);
      if (placement === 'whole') out[i] = id;
      else if (id % shards !== shard) throw new InvalidRequest(`table ${name}: row ${id} belongs to shard ${id % shards}, not shard ${shard}`);
      else out[i] = (id - shard) / shards;
    }
    return out;
  }

  private resolveBlocks(blocks: readonly RowBlockIn[]): Resolved[] {
    const seen = new Set<string>();
    return blocks.map((b) => {
      const h = this.table(b.table);
      if (!h.def.trainable) throw new InvalidRequest(`table ${b.table} is frozen`);
      if (seen.has(b.table)) throw new InvalidRequest(`table ${b.table} appears twice in one update`);
      seen.add(b.table);
      const local = b.ids ? this.localIds(h, b.ids) : null;
      const n = local ? local.length : h.local;
      if (b.values.length !== n * h.def.dim) {
        throw new InvalidRequest(`table ${b.table}: wrong row width: ${b.values.length} values for ${n} rows of dim ${h.def.dim} (expected ${n * h.def.dim})`);
      }
      return { held: h, local, grad: b.values, wireBytes: b.wireBytes ?? b.values.byteLength };
    });
  }

  /** True when (task, attempt) was applied before (acknowledged, ignored); a different attempt of an applied task is stale. */
  private seen(task: string, attempt: number): boolean {
    const prior = this.applied.get(task);
    if (!prior) return false;
    if (prior.attempt !== attempt) throw new StaleVersion(`task ${task} was already applied from attempt ${prior.attempt}`);
    this.counters.duplicates++;
    return true;
  }

  /**
   * One optimizer step `step` over the summed gradients of several tasks: row-wise and lazy (touched rows only),
   * except for dense tables, whose every held row is updated at every step, untouched rows with a zero gradient.
   */
  private applyStep(tasks: readonly (readonly Resolved[])[], step: number): void {
    const byTable = new Map<Held, Resolved[]>();
    for (const h of this.held.values()) if (h.def.dense && h.def.trainable) byTable.set(h, []);
    for (const blocks of tasks) for (const b of blocks) byTable.set(b.held, [...(byTable.get(b.held) ?? []), b]);
    for (const [h, parts] of byTable) {
      const sum = sumRows(parts, h.def.dim, h.local, h.def.dense ?? false, (n) => (h.sumScratch ??= new Float32Array(n)));
      applyRows(this.config.optimizer, h.values, h.state, h.def.dim, sum.local, sum.grad, step);
      h.version++;
      if (sum.local) for (const l of sum.local) h.rowVersions[l] = h.version;
      else h.rowVersions.fill(h.version);
      this.counters.rowsPushed += parts.reduce((n, p) => n + (p.local ? p.local.length : h.local), 0);
      this.counters.bytesPushed += parts.reduce((n, p) => n + p.wireBytes + (p.local ? p.local.byteLength : 0), 0);
    }
    this.steps = step;
    // After this call's own reply has gone (a commit's to the coordinator, which then opens the next step).
    setImmediate(() => this.wakeHeld());
  }

  private forgetOldTasks(): void {
    for (const [task, a] of this.applied) if (a.step < this.steps - BSP_APPLIED_RETAIN) this.applied.delete(task);
  }

  private minClock(): number {
    return this.clocks.reduce((m, c) => Math.min(m, c), Infinity);
  }

  private wakeWaiters(): void {
    const c = this.config.consistency;
    if (c.mode !== 'ssp') return;
    const min = this.minClock();
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.clock - min <= c.staleness) w.resolve(min);
      else still.push(w);
    }
    this.waiters = still;
  }
}

/** A pull held until its table reaches `version` (ShardState.untilVersion). */
interface HeldPull {
  readonly table: string;
  readonly version: number;
  readonly resolve: () => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** Whether this shard holds a table at all. */
function holds(def: ShardTableDef, config: ShardConfig): boolean {
  return def.placement === 'rows' || wholeOwner(def.name, config.shards) === config.shard;
}

function checkConfig(c: ShardConfig): void {
  if (!Number.isInteger(c.shards) || c.shards < 1) throw new InvalidRequest(`shards must be a positive integer, got ${c.shards}`);
  if (!Number.isInteger(c.shard) || c.shard < 0 || c.shard >= c.shards) throw new InvalidRequest(`shard ${c.shard} out of range [0, ${c.shards})`);
  const names = new Set<string>();
  for (const t of c.tables) {
    if (names.has(t.name)) throw new InvalidRequest(`duplicate table ${t.name}`);
    names.add(t.name);
    if (!Number.isInteger(t.rows) || t.rows < 0 || !Number.isInteger(t.dim) || t.dim < 1) throw new InvalidRequest(`table ${t.name}: bad shape [${t.rows}, ${t.dim}]`);
  }
  if (c.consistency.mode === 'ssp' && c.consistency.workers < 1) throw new InvalidRequest('ssp needs at least one worker');
}

/** The held rows' initial values: the same numbers `initTable` gives those rows in one process. */
function initialValues(def: ShardTableDef, ids: Uint32Array, seed: number): Float32Array {
  const n = ids.length * def.dim;
  if (def.init.kind === 'values') {
    if (def.init.values.length !== n) throw new InvalidRequest(`table ${def.name}: initial values have ${def.init.values.length} entries, expected ${n} for this shard's rows`);
    return def.init.values.slice();
  }
  if (def.init.kind === 'zeros') return new Float32Array(n);
  const full = initTable({ name: def.name, rows: def.rows, dim: def.dim, trainable: def.trainable, init: def.init }, seed);
  if (def.placement === 'whole') return full;
  return gatherRows(full, def.dim, ids);
}

/**
 * Rows among `local` (null: all held) changed after version `since`, with their positions in the request; null
 * when every one of them changed (then the pull is the plain one).
 */
function changedRows(h: Held, local: Int32Array | null, since: number): { local: Int32Array; positions: Uint32Array } | null {
  const n = local ? local.length : h.local;
  if (!anyUnchanged(h.rowVersions, local, n, since)) return null;
  const keep = new Int32Array(n);
  const positions = new Uint32Array(n);
  let kept = 0;
  for (let p = 0; p < n; p++) {
    const l = local ? local[p] : p;
    if (h.rowVersions[l] > since) {
      keep[kept] = l;
      positions[kept++] = p;
    }
  }
  return kept === n ? null : { local: keep.slice(0, kept), positions: positions.slice(0, kept) };
}

/** Whether one of the rows `local` (null: the first n) has a version of at most `since`. */
function anyUnchanged(rowVersions: Uint32Array, local: Int32Array | null, n: number, since: number): boolean {
  for (let p = 0; p < n; p++) if (rowVersions[local ? local[p] : p] <= since) return true;
  return false;
}

/**
 * The sum of several tasks' gradients for one table, over the union of their rows (sorted), added in the order
 * of `parts`. Dense parts (every held row) add element-wise over the whole array; a sparse part adds its rows at
 * their places in the union, found by one merge of the two sorted lists. With `dense` the sum is over every held
 * row (zero where no part has the row), even with no part at all. A sum over every held row goes into
 * `scratch(heldRows * dim)` when given (a reused array; what it holds does not matter), else into a new array: it
 * starts as a copy of the first part when that part is dense (one pass fewer than adding it to zeros), else zeroed.
 */
export function sumRows(
  parts: readonly { local: Int32Array | null; grad: Float32Array }[],
  dim: number,
  heldRows: number,
  dense = false,
  scratch: (length: number) => Float32Array = (length) => new Float32Array(length),
): { local: Int32Array | null; grad: Float32Array } {
  if (parts.length === 1 && !(dense && parts[0].local)) return parts[0];
  const union = dense || parts.some((p) => !p.local) ? null : sortedUnion(parts.map((p) => p.local!));
  if (union) {
    const grad = new Float32Array(union.length * dim);
    for (const p of parts) addRowsInto(grad, p.grad, placesIn(union, p.local!), dim);
    return { local: union, grad };
  }
  const grad = scratch(heldRows * dim);
  const first = parts.length > 0 && !parts[0].local ? 1 : 0;
  if (first) grad.set(parts[0].grad);
  else grad.fill(0);
  for (const p of parts.slice(first)) {
    if (!p.local) addInto(grad, p.grad);
    else addRowsInto(grad, p.grad, p.local, dim);
  }
  return { local: null, grad };
}

/** out += x, element-wise. */
function addInto(out: Float32Array, x: Float32Array): void {
  for (let i = 0; i < x.length; i++) out[i] += x[i];
}

/** out[rows[r]] += x[r], rows of `dim` values. */
function addRowsInto(out: Float32Array, x: Float32Array, rows: Int32Array, dim: number): void {
  for (let r = 0; r < rows.length; r++) {
    const to = rows[r] * dim;
    const from = r * dim;
    for (let j = 0; j < dim; j++) out[to + j] += x[from + j];
  }
}

/** The position of each of the sorted `ids` in the sorted `union` that contains them. */
function placesIn(union: Int32Array, ids: Int32Array): Int32Array {
  const at = new Int32Array(ids.length);
  let u = 0;
  for (let r = 0; r < ids.length; r++) {
    while (union[u] !== ids[r]) u++;
    at[r] = u;
  }
  return at;
}

function sortedUnion(lists: readonly Int32Array[]): Int32Array {
  const all = new Int32Array(lists.reduce((n, l) => n + l.length, 0));
  let at = 0;
  for (const l of lists) {
    all.set(l, at);
    at += l.length;
  }
  all.sort();
  let n = 0;
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) all[n++] = all[i];
  return all.slice(0, n);
}

function checkCommitTasks(staged: ReadonlyMap<string, StagedTask>, tasks: readonly string[], step: number): void {
  if (tasks.length === 0) return;
  const missing = tasks.filter((t) => !staged.has(t));
  const extra = [...staged.keys()].filter((t) => !tasks.includes(t));
  if (missing.length || extra.length) {
    throw new NotReady(`step ${step}: commit names tasks not prepared [${missing.join(', ')}] or misses staged ones [${extra.join(', ')}]`);
  }
}

/** A stable digest of a shard's configuration: a restarted shard accepts Init only for the same one. */
export function configFingerprint(c: ShardConfig): string {
  const tables = c.tables.map((t) => ({
    ...t,
    init: t.init.kind === 'values' ? { kind: 'values', sha256: createHash('sha256').update(new Uint8Array(t.init.values.buffer, t.init.values.byteOffset, t.init.values.byteLength)).digest('hex') } : t.init,
  }));
  return createHash('sha256').update(JSON.stringify({ ...c, tables })).digest('hex');
}
