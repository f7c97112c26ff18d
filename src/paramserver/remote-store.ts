/**
 * RemoteParamStore: the ParamStore seam (src/train/paramstore.ts) over gRPC shards (DESIGN.md §5), so that
 * `trainStep` runs unchanged. Pulls split the ids by shard, run in parallel and merge in the caller's order;
 * a push is one optimizer step: under bsp it is prepared on every shard and then committed on every shard (a
 * failed prepare aborts it on all), under async and ssp it is pushed to every shard (ssp then reports the
 * clock and waits while too far ahead). exportState/importState gather and scatter the same StoreState that
 * LocalParamStore uses.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { StaleVersion } from '../errors/index.js';
import type { OptimizerConfig, ParamStore, RowGrad, StoreState, TableSpec } from '../train/index.js';
import { ShardClient, type ShardClientOptions } from './client.js';
import { consistencyToMsg, encodingFromMsg, encodingToMsg, optimizerToMsg, tableDefToMsg } from './convert.js';
import { bytesPerValue, readRows, type WireEncoding, type WireValues } from './encoding.js';
import { defaultPlacement, heldIds, localRowCount, wholeOwner, type Placement } from './placement.js';
import { bulkByteLength } from './codec.js';
import type { PickedRows, PullReply, RowBlockOut, StateChunk, StatsReply } from './proto.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from './server.js';
import type { Consistency } from './shard.js';
import { bytesOf, floatsOf, gatherRows, gatherRowsInto, scatterRowsInto, uintsOf, wireValuesOf } from './wire.js';

export interface RemoteStoreOptions extends ShardClientOptions {
  /** Shard i's address (host:port) is addresses[i]. */
  readonly addresses: readonly string[];
  readonly specs: readonly TableSpec[];
  readonly optimizer: OptimizerConfig;
  readonly seed: number;
  /** Default bsp. */
  readonly consistency?: Consistency;
  /** This worker's index, for ssp clocks. Default 0. */
  readonly worker?: number;
  /** Names this client's tasks (default: a random UUID). */
  readonly clientId?: string;
  /** Which tables are row-sharded and which are held whole (default: placement.ts defaultPlacement). */
  readonly placement?: (spec: TableSpec) => Placement;
  /**
   * Keep every whole table pulled and, from the second whole pull on, ask each shard only for the rows changed
   * since the version last seen (`changed_only`; Li et al., OSDI'14). Pays when a table's rows mostly stay as
   * they were between two pulls of this client (several tasks of one bsp step); costs a table's memory.
   */
  readonly rowCache?: boolean;
  /**
   * How row values travel in pulls and pushes (docs/paramserver.md "Reduced-precision wire"): 'f32' (default,
   * exact), or 16-bit 'bf16' / 'f16', narrowed by the sender (round to nearest even) and widened by the receiver.
   * Init, state export/import and checkpoints stay float32.
   */
  readonly wire?: WireEncoding;
}

/** A whole table as this client last saw it, and per shard the version and incarnation it was read at. */
interface CachedTable {
  readonly values: Float32Array;
  readonly seen: ({ version: number; incarnation: number } | null)[];
  /** Per shard, a prefetch in flight or answered and not yet used (`prefetch`). */
  readonly prefetched: (Prefetch | null)[];
}

/** A pull of the rows changed after `since`, asked for before they change (RemoteParamStore.prefetch). */
interface Prefetch {
  readonly since: number;
  readonly incarnation: number;
  /** The reply, or null when the call failed (the next pull then reads as if there had been no prefetch). */
  readonly reply: Promise<PullReply | null>;
  answered: boolean;
}

/** How long a shard holds a prefetch for the next version before it answers with what it has (PullRequest.hold_ms). */
export const PREFETCH_HOLD_MS = 5000;

/** A table's version on one shard: what a pull read, or what an update was applied on top of. */
export interface ShardTableVersion {
  readonly table: string;
  readonly shard: number;
  readonly version: number;
}

/** The (table, shard) pairs an update sent rows to (every pair it sends a block to gets one update there). */
export interface UpdateTargets {
  readonly targets: readonly { table: string; shard: number }[];
}

interface RemoteTable {
  readonly spec: TableSpec;
  readonly placement: Placement;
}

/** Rows and row payload (ids + values, as on the wire) this client has moved, for a worker's per-task figures. */
export interface ClientTraffic {
  rowsPulled: number;
  bytesPulled: number;
  rowsPushed: number;
  bytesPushed: number;
}

/** Room left in a message for everything but the rows. */
const MESSAGE_SLACK_BYTES = 64 * 1024;

export class RemoteParamStore implements ParamStore {
  readonly specs: readonly TableSpec[];
  readonly traffic: ClientTraffic = { rowsPulled: 0, bytesPulled: 0, rowsPushed: 0, bytesPushed: 0 };
  private readonly tables = new Map<string, RemoteTable>();
  private readonly clients: ShardClient[];
  private readonly consistency: Consistency;
  private readonly clientId: string;
  private readonly maxMessageBytes: number;
  private readonly wire: WireEncoding;
  /** Whole tables as pulled in this store's wire encoding (rowCache). */
  private readonly cache = new Map<string, CachedTable>();
  private steps = 0;
  /** The oldest version of each (table, shard) read since the last takeReads(). */
  private readonly reads = new Map<string, ShardTableVersion>();

  private constructor(private readonly opts: RemoteStoreOptions) {
    this.specs = opts.specs;
    const placement = opts.placement ?? defaultPlacement;
    for (const spec of opts.specs) this.tables.set(spec.name, { spec, placement: placement(spec) });
    this.clients = opts.addresses.map((a) => new ShardClient(a, opts));
    this.consistency = opts.consistency ?? { mode: 'bsp' };
    this.clientId = opts.clientId ?? randomUUID();
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.wire = opts.wire ?? 'f32';
  }

  /**
   * Connects to every shard and gives each its tables (Init). A shard that already holds the same configuration,
   * e.g. one restored from its checkpoint, keeps its state; the store starts at the shards' step.
   */
  static async connect(opts: RemoteStoreOptions): Promise<RemoteParamStore> {
    const store = new RemoteParamStore(opts);
    try {
      const replies = await Promise.all(store.clients.map((c, s) => c.init(store.initRequest(s))));
      const steps = new Set(replies.map((r) => r.step));
      if (steps.size > 1) throw new StaleVersion(`shards are at different steps (${replies.map((r) => r.step).join(', ')}): restore them from one checkpoint`);
      store.steps = replies[0]?.step ?? 0;
      return store;
    } catch (err) {
      store.close();
      throw err;
    }
  }

  /**
   * The coordinator generation this client's updates carry (Push, Prepare, Commit, Abort); 0 until set. A shard
   * refuses updates from a generation below its fence (ShardState.fence) with Fenced.
   */
  generation = 0;

  /**
   * A coordinator taking over: raises every shard's fence to one above the highest generation any of them has
   * followed, adopts it as this client's generation, and returns it. Updates from the previous coordinator's
   * tasks are refused from then on.
   */
  async takeOver(): Promise<number> {
    const seen = await Promise.all(this.clients.map((c) => c.describe()));
    const next = Math.max(0, ...seen.map((d) => Number(d.generation))) + 1;
    await Promise.all(this.clients.map((c) => c.fence(next)));
    this.generation = next;
    return next;
  }

  get shards(): number {
    return this.clients.length;
  }

  get step(): number {
    return this.steps;
  }

  /**
   * Rows of a table (ParamStore.pull), their values travelling in `wire` (default: this store's). Whole pulls go
   * through the row cache (with `rowCache`) when they travel in this store's encoding, and return the cached table
   * itself, lent as ParamStore.pull allows: the next whole pull of the table through this store (`exactReads()`
   * included, when the wire is float32) updates that same array in place, and a caller that wrote into it would
   * change the cache.
   */
  async pull(table: string, ids: Int32Array | null, wire: WireEncoding = this.wire, waitForPrefetch = true): Promise<Float32Array> {
    const t = this.table(table);
    if (ids === null && this.opts.rowCache && wire === this.wire) return this.refreshCached(t, waitForPrefetch && this.waitForPrefetches);
    const dim = t.spec.dim;
    const n = ids ? ids.length : t.spec.rows;
    const order = ids ? sortedUnique(ids, t.spec) : null;
    const wanted = order ? order.unique : null;
    const parts = await Promise.all(this.pullPlan(t, wanted, wire).map(async (p) => ({ reply: await this.clients[p.shard].pull(p.request), dest: p.dest, shard: p.shard })));
    const values = parts.map((p) => replyValues(p.reply));
    parts.forEach((p, k) => {
      this.noteRead(table, p.shard, p.reply.version);
      this.countPulled(values[k].array.length / dim, p.reply.values.byteLength + p.reply.ids.byteLength);
    });
    if (parts.length === 1 && !order?.where && isIdentity(parts[0].dest, n) && values[0].encoding === 'f32') return values[0].array;
    const merged = new Float32Array((wanted ? wanted.length : n) * dim);
    parts.forEach((p, k) => readRows(merged, values[k], dim, p.dest));
    if (!order?.where) return merged;
    const out = new Float32Array(n * dim);
    gatherRowsInto(out, merged, dim, order.where);
    return out;
  }

  async push(grads: readonly RowGrad[]): Promise<void> {
    const step = this.steps + 1;
    const blocks = this.shardBlocks(grads);
    const task = `${this.clientId}:${step}`;
    if (this.consistency.mode === 'bsp') await this.twoPhase(step, task, blocks);
    else {
      await Promise.all(this.clients.map((c, s) => c.push({ task, attempt: 0, clock: step, blocks: blocks[s], generation: this.generation })));
      if (this.consistency.mode === 'ssp') await Promise.all(this.clients.map((c) => c.clock({ worker: this.opts.worker ?? 0, clock: step })));
    }
    this.steps = step;
  }

  /**
   * Whether a whole pull waits for a prefetch still in flight (default true). A worker turns it off for another
   * task of the step it prefetched after: that step has not committed yet, and a shard holds the prefetch until it
   * does, which needs this very task.
   */
  waitForPrefetches = true;
  /**
   * Cancels the prefetches still held by a shard when the store closes (a held call would keep the process up). One
   * listener per held call (cached tables × shards, over 10 with 4 shards and a few tables) is by design, not a leak:
   * no MaxListenersExceededWarning.
   */
  private readonly prefetches = unlimitedListeners(new AbortController());

  /**
   * bsp, between a worker's tasks (docs/paramserver.md "Prefetch"): asks each shard now, for every cached whole
   * table, for the rows that change after the version this store holds, held by the shard until its next commit
   * (at most `holdMs`). The next pull of the table uses the reply instead of waiting for the rows to travel after the
   * commit, then asks the shard once more for anything newer (nothing, at bsp), so what it returns is what a plain
   * pull would. Does nothing without the row cache, or for a table and shard already asked.
   */
  prefetch(holdMs = PREFETCH_HOLD_MS): void {
    if (!this.opts.rowCache) return;
    for (const [name, cached] of this.cache) {
      for (const p of this.pullPlan(this.table(name), null, this.wire)) {
        const seen = cached.seen[p.shard];
        if (!seen || cached.prefetched[p.shard]) continue;
        const request = { ...p.request, changedOnly: true, sinceVersion: seen.version, minVersion: seen.version + 1, holdMs };
        const entry: Prefetch = {
          since: seen.version,
          incarnation: seen.incarnation,
          answered: false,
          reply: this.clients[p.shard].pull(request, this.prefetches.signal).then(
            (r) => ((entry.answered = true), r),
            () => ((entry.answered = true), null),
          ),
        };
        cached.prefetched[p.shard] = entry;
      }
    }
  }

  /**
   * This store read in float32 whatever its wire (through the row cache only when the wire is float32):
   * evaluation reads the parameters themselves, so that its metrics do not depend on `wire`.
   */
  exactReads(): ParamStore {
    return floatReads(this);
  }

  /**
   * The oldest version of each (table, shard) pulled since the last call (staleness, src/coordinator/staleness.ts),
   * and forgets them.
   */
  takeReads(): ShardTableVersion[] {
    const out = [...this.reads.values()];
    this.reads.clear();
    return out;
  }

  /**
   * bsp, one task of a step run by several clients (docs/distributed.md): stages this task's gradients, already
   * weighted, under (step, task, attempt) on every shard — on a shard it has no rows for, as an empty stage, so
   * that every shard can commit the same list of tasks. Nothing is applied until `commitStep`.
   */
  async prepareTask(step: number, task: string, attempt: number, grads: readonly RowGrad[]): Promise<UpdateTargets> {
    const blocks = this.shardBlocks(grads);
    await Promise.all(this.clients.map((c, s) => c.prepare({ step, task, attempt, blocks: blocks[s], generation: this.generation })));
    return { targets: targetsOf(blocks) };
  }

  /**
   * async / ssp under a coordinator: applies one task's gradients on arrival on every shard, once per (task,
   * attempt). A shard that already applied another attempt of this task refuses this one (StaleVersion): it holds
   * the task's gradient already, so the task counts as applied there. `applied` gives, per (table, shard) this
   * attempt updated, the version the update went on top of.
   */
  async pushTask(task: string, attempt: number, grads: readonly RowGrad[]): Promise<UpdateTargets & { applied: ShardTableVersion[] }> {
    const blocks = this.shardBlocks(grads);
    const replies = await Promise.all(
      this.clients.map((c, s) =>
        c.push({ task, attempt, clock: 0, blocks: blocks[s], generation: this.generation }).catch((err: unknown) => {
          if (err instanceof StaleVersion) return null;
          throw err;
        }),
      ),
    );
    const applied: ShardTableVersion[] = [];
    replies.forEach((r, shard) => {
      if (!r || r.duplicate) return;
      const sent = new Set(blocks[shard].map((b) => b.table));
      for (const v of r.versions) if (sent.has(v.table)) applied.push({ table: v.table, shard, version: Number(v.version) - 1 });
    });
    return { targets: targetsOf(blocks), applied };
  }

  /**
   * bsp: applies `step` on every shard as the sum of exactly these staged tasks; returns each table's version on
   * each shard before the step (the commit updates every table a staged task sent rows to once).
   */
  async commitStep(step: number, tasks: readonly string[]): Promise<ShardTableVersion[]> {
    const replies = await Promise.all(this.clients.map((c) => c.commit({ step, tasks: [...tasks], generation: this.generation })));
    this.steps = step;
    return replies.flatMap((r, shard) => r.versions.map((v) => ({ table: v.table, shard, version: Number(v.version) - 1 })));
  }

  /** bsp: discards whatever is staged for `step` on every shard. */
  async abortStep(step: number): Promise<void> {
    await Promise.all(this.clients.map((c) => c.abort({ step, generation: this.generation })));
  }

  async exportState(): Promise<StoreState> {
    const exported = await Promise.all(this.clients.map((c) => c.exportState(this.maxMessageBytes - MESSAGE_SLACK_BYTES)));
    const steps = new Set(exported.map((chunks) => chunks[0]?.step ?? 0));
    if (steps.size > 1) throw new StaleVersion(`shards are at different steps (${[...steps].join(', ')})`);
    const tables: StoreState['tables'] = {};
    for (const t of this.tables.values()) {
      const size = t.spec.rows * t.spec.dim;
      tables[t.spec.name] = { values: new Float32Array(size), state: this.stateSlots(t).map(() => new Float32Array(size)) };
    }
    exported.forEach((chunks, s) => {
      for (const c of chunks) {
        if (c.table === '') continue;
        const t = this.table(c.table);
        const target = c.slot < 0 ? tables[c.table].values : tables[c.table].state[c.slot];
        const ids = this.globalIds(t, s, c.firstRow, c.rows);
        scatterRowsInto(target, floatsOf(c.values), ids, t.spec.dim);
      }
    });
    return { step: [...steps][0] ?? 0, tables };
  }

  async importState(state: StoreState): Promise<void> {
    for (const t of this.tables.values()) {
      const s = state.tables[t.spec.name];
      if (!s) throw new Error(`state has no table ${t.spec.name}`);
      if (s.values.length !== t.spec.rows * t.spec.dim || s.state.length !== this.stateSlots(t).length) {
        throw new Error(`state for table ${t.spec.name} has another shape`);
      }
    }
    await Promise.all(this.clients.map((c, shard) => c.importState(this.importChunks(state, shard))));
    this.steps = state.step;
  }

  /** Every shard's counters. */
  stats(): Promise<StatsReply[]> {
    return Promise.all(this.clients.map((c) => c.stats()));
  }

  close(): void {
    this.prefetches.abort();
    for (const c of this.clients) c.close();
  }

  private initRequest(shard: number) {
    const shards = this.clients.length;
    return {
      shards,
      seed: this.opts.seed,
      optimizer: optimizerToMsg(this.opts.optimizer),
      consistency: consistencyToMsg(this.consistency),
      tables: [...this.tables.values()].map((t) => tableDefToMsg(t.spec, t.placement, this.holds(t, shard) ? heldIds(t.spec.rows, t.placement, shard, shards) : null)),
    };
  }

  private table(name: string): RemoteTable {
    const t = this.tables.get(name);
    if (!t) throw new Error(`unknown table ${name}; known: ${[...this.tables.keys()].join(', ')}`);
    return t;
  }

  private holds(t: RemoteTable, shard: number): boolean {
    return t.placement === 'rows' || wholeOwner(t.spec.name, this.clients.length) === shard;
  }

  private stateSlots(t: RemoteTable): number[] {
    if (!t.spec.trainable) return [];
    return this.opts.optimizer.kind === 'adam' ? [0, 1] : [0];
  }

  /** Global ids of local rows [first, first + n) of shard `s`. */
  private globalIds(t: RemoteTable, s: number, first: number, n: number): Int32Array {
    const S = this.clients.length;
    return Int32Array.from({ length: n }, (_, k) => (t.placement === 'whole' ? first + k : (first + k) * S + s));
  }

  /** The calls a pull needs: per shard its ids (sorted), in pieces that fit a message, and where each row goes. */
  private pullPlan(t: RemoteTable, wanted: Uint32Array | null, wire: WireEncoding) {
    const S = this.clients.length;
    const perShard: { shard: number; ids: Uint32Array; dest: Int32Array }[] = [];
    if (t.placement === 'whole') {
      const ids = wanted ?? heldIds(t.spec.rows, 'whole', 0, 1);
      perShard.push({ shard: wholeOwner(t.spec.name, S), ids, dest: Int32Array.from({ length: ids.length }, (_, k) => k) });
    } else if (!wanted) {
      for (let s = 0; s < S; s++) {
        const ids = heldIds(t.spec.rows, 'rows', s, S);
        perShard.push({ shard: s, ids, dest: Int32Array.from(ids) });
      }
    } else {
      perShard.push(...splitByShard(wanted, S));
    }
    const rowsPerCall = Math.max(1, Math.floor((this.maxMessageBytes - MESSAGE_SLACK_BYTES) / (t.spec.dim * bytesPerValue(wire) + 8)));
    const encoding = encodingToMsg(wire);
    return perShard.flatMap((p) => {
      const out = [];
      for (let k = 0; k < p.ids.length; k += rowsPerCall) {
        const ids = p.ids.subarray(k, k + rowsPerCall);
        const allRows = !wanted && t.placement === 'rows' && ids.length === localRowCount(t.spec.rows, p.shard, S);
        const request = { table: t.spec.name, ids: allRows ? Buffer.alloc(0) : bytesOf(ids), allRows, ...(encoding ? { encoding } : {}) };
        out.push({ shard: p.shard, dest: p.dest.subarray(k, k + rowsPerCall), request });
      }
      return out;
    });
  }

  /**
   * The cached whole table brought up to date: per shard, only the rows whose version is above the one last seen
   * (every held row the first time, or when the shard's incarnation changed or its version went back). The rows
   * then hold each shard's table at the version its reply carries: that is the version read (`takeReads`), however
   * few rows moved.
   */
  private async refreshCached(t: RemoteTable, waitForPrefetch = true): Promise<Float32Array> {
    const dim = t.spec.dim;
    let c = this.cache.get(t.spec.name);
    if (!c) {
      c = { values: new Float32Array(t.spec.rows * dim), seen: this.clients.map(() => null), prefetched: this.clients.map(() => null) };
      this.cache.set(t.spec.name, c);
    }
    const cached = c;
    const plan = this.pullPlan(t, null, this.wire);
    const early = await Promise.all(plan.map((p) => this.takePrefetch(cached, p.shard, waitForPrefetch)));
    plan.forEach((p, k) => {
      const reply = early[k];
      if (!reply) return;
      this.writeReply(cached, reply, dim);
      cached.seen[p.shard] = { version: reply.version, incarnation: reply.incarnation };
    });
    const read = await Promise.all(
      plan.map(async (p) => {
        const seen = cached.seen[p.shard];
        const since = seen ? { changedOnly: true, sinceVersion: seen.version } : {};
        let reply = await this.clients[p.shard].pull({ ...p.request, ...since });
        if (seen && (reply.incarnation !== seen.incarnation || reply.version < seen.version)) reply = await this.clients[p.shard].pull(p.request);
        return { shard: p.shard, reply };
      }),
    );
    const versions = this.clients.map(() => ({ version: Infinity, incarnation: 0 }));
    for (const { shard, reply } of read) {
      this.writeReply(cached, reply, dim);
      this.noteRead(t.spec.name, shard, reply.version);
      const v = versions[shard];
      v.version = Math.min(v.version, reply.version);
      v.incarnation = reply.incarnation;
    }
    for (const { shard } of read) cached.seen[shard] = versions[shard];
    return cached.values;
  }

  /** A whole-table reply's rows into the cache, counted as pulled. */
  private writeReply(cached: CachedTable, reply: PullReply, dim: number): void {
    const got = uintsOf(reply.ids);
    this.countPulled(got.length, reply.values.byteLength + 4 * got.length);
    readRows(cached.values, replyValues(reply), dim, got);
  }

  /**
   * The prefetched reply of `shard` for this table when it still applies — asked since the version the cache
   * holds, same incarnation, newer — else null; the prefetch is used up either way, except one still in flight
   * when the caller does not wait for it (an evaluation's exact read between steps, whose shard may not commit again
   * before the hold runs out).
   */
  private async takePrefetch(cached: CachedTable, shard: number, wait: boolean): Promise<PullReply | null> {
    const pre = cached.prefetched[shard];
    if (!pre || (!pre.answered && !wait)) return null;
    cached.prefetched[shard] = null;
    const reply = await pre.reply;
    const seen = cached.seen[shard];
    if (!reply || !seen || pre.since !== seen.version || pre.incarnation !== seen.incarnation) return null;
    return reply.incarnation === seen.incarnation && reply.version > seen.version ? reply : null;
  }

  /** Each shard's blocks of these gradients, counted as pushed. */
  private shardBlocks(grads: readonly RowGrad[]): RowBlockOut[][] {
    const blocks = this.clients.map(() => [] as RowBlockOut[]);
    for (const g of grads) {
      const dim = this.table(g.table).spec.dim;
      this.splitGrad(g).forEach((b, s) => {
        if (!b) return;
        blocks[s].push(b);
        const bytes = bulkByteLength(b.values, this.wire);
        this.traffic.rowsPushed += bytes / (bytesPerValue(this.wire) * dim);
        this.traffic.bytesPushed += bytes + b.ids.byteLength;
      });
    }
    return blocks;
  }

  private countPulled(rows: number, bytes: number): void {
    this.traffic.rowsPulled += rows;
    this.traffic.bytesPulled += bytes;
  }

  /** A gradient's rows for each shard (null where a shard gets none of this table). */
  private splitGrad(g: RowGrad): (RowBlockOut | null)[] {
    const t = this.table(g.table);
    const S = this.clients.length;
    const dim = t.spec.dim;
    if (g.ids) for (const id of g.ids) if (id < 0) throw new RangeError(`table ${g.table}: row ${id} out of range`);
    if (t.placement === 'whole') {
      const owner = wholeOwner(t.spec.name, S);
      return this.clients.map((_, s) => (s === owner ? block(g.table, g.ids ? new Uint32Array(g.ids.buffer, g.ids.byteOffset, g.ids.length) : null, g.grad, this.wire) : null));
    }
    if (S === 1) return [block(g.table, g.ids ? new Uint32Array(g.ids.buffer, g.ids.byteOffset, g.ids.length) : null, g.grad, this.wire)];
    const ids = g.ids ? new Uint32Array(g.ids.buffer, g.ids.byteOffset, g.ids.length) : null;
    const parts = ids ? splitByShard(ids, S) : this.clients.map((_, s) => ({ shard: s, ids: null, dest: Int32Array.from(heldIds(t.spec.rows, 'rows', s, S)) }));
    return parts.map((p) => block(g.table, p.ids, { from: g.grad, pick: p.dest, dim }, this.wire));
  }

  private noteRead(table: string, shard: number, version: number): void {
    const key = `${table}\u0000${shard}`;
    const prior = this.reads.get(key);
    if (!prior || version < prior.version) this.reads.set(key, { table, shard, version: Number(version) });
  }

  /** bsp: prepare on every shard, then commit on every shard; a failed prepare aborts the step everywhere. */
  private async twoPhase(step: number, task: string, blocks: RowBlockOut[][]): Promise<void> {
    try {
      await Promise.all(this.clients.map((c, s) => c.prepare({ step, task, attempt: 0, blocks: blocks[s], generation: this.generation })));
    } catch (err) {
      await Promise.allSettled(this.clients.map((c) => c.abort({ step, generation: this.generation })));
      throw err;
    }
    await Promise.all(this.clients.map((c) => c.commit({ step, tasks: [task], generation: this.generation })));
  }

  /** One shard's part of a StoreState, as import chunks (the first carries the step). */
  private *importChunks(state: StoreState, shard: number): Generator<StateChunk> {
    yield { step: state.step, table: '', slot: 0, firstRow: 0, rows: 0, values: Buffer.alloc(0) };
    for (const t of this.tables.values()) {
      if (!this.holds(t, shard)) continue;
      const dim = t.spec.dim;
      const local = t.placement === 'whole' ? t.spec.rows : localRowCount(t.spec.rows, shard, this.clients.length);
      const rowsPer = Math.max(1, Math.floor((this.maxMessageBytes - MESSAGE_SLACK_BYTES) / (dim * 4)));
      const s = state.tables[t.spec.name];
      const arrays = [s.values, ...s.state];
      for (let k = 0; k < arrays.length; k++) {
        for (let r = 0; r < local; r += rowsPer) {
          const rows = Math.min(rowsPer, local - r);
          const values = gatherRows(arrays[k], dim, this.globalIds(t, shard, r, rows));
          yield { step: state.step, table: t.spec.name, slot: k - 1, firstRow: r, rows, values: bytesOf(values) };
        }
      }
    }
  }
}

function floatReads(store: RemoteParamStore): ParamStore {
  return {
    specs: store.specs,
    get step() {
      return store.step;
    },
    pull: (table, ids) => store.pull(table, ids, 'f32', false),
    push: (grads) => store.push(grads),
    exportState: () => store.exportState(),
    importState: (state) => store.importState(state),
  };
}

function targetsOf(blocks: readonly (readonly RowBlockOut[])[]): { table: string; shard: number }[] {
  return blocks.flatMap((bs, shard) => bs.map((b) => ({ table: b.table, shard })));
}

/**
 * A gradient block; rows picked from a larger gradient are gathered only when the message is written, and narrowed
 * there when they travel in 16 bits.
 */
function block(table: string, ids: Uint32Array | null, grad: Float32Array | PickedRows, wire: WireEncoding): RowBlockOut {
  const head = { table, ids: ids ? bytesOf(ids) : Buffer.alloc(0), allRows: ids === null };
  if (wire === 'f32') return { ...head, values: grad instanceof Float32Array ? bytesOf(grad) : grad };
  const rows = grad instanceof Float32Array ? { from: grad, pick: null, dim: 1 } : grad;
  return { ...head, values: rows, encoding: encodingToMsg(wire) };
}

/** A pull reply's values, as the encoding its `encoding` field names. */
function replyValues(reply: PullReply): WireValues {
  const what = `pull of table ${reply.table}`;
  return wireValuesOf(reply.values, encodingFromMsg(reply.encoding, what), `${what}: values`);
}

/** Sorted ids by shard (id % S), with each id's position in the input. */
function splitByShard(ids: Uint32Array, S: number): { shard: number; ids: Uint32Array; dest: Int32Array }[] {
  const counts = new Int32Array(S);
  for (const id of ids) counts[id % S]++;
  const parts = Array.from(counts, (n, s) => ({ shard: s, ids: new Uint32Array(n), dest: new Int32Array(n) }));
  const fill = new Int32Array(S);
  for (let k = 0; k < ids.length; k++) {
    const s = ids[k] % S;
    parts[s].ids[fill[s]] = ids[k];
    parts[s].dest[fill[s]++] = k;
  }
  return parts;
}

/**
 * The caller's ids as sorted unique uint32 (what shards accept) and, when they were not already so, where each
 * caller position finds its row among them.
 */
function sortedUnique(ids: Int32Array, spec: TableSpec): { unique: Uint32Array; where: Int32Array | null } {
  let sorted = true;
  for (let k = 0; k < ids.length; k++) {
    if (ids[k] < 0 || ids[k] >= spec.rows) throw new RangeError(`table ${spec.name}: row ${ids[k]} out of range [0, ${spec.rows})`);
    if (k > 0 && ids[k] <= ids[k - 1]) sorted = false;
  }
  if (sorted) return { unique: new Uint32Array(ids.buffer, ids.byteOffset, ids.length), where: null };
  const unique = Uint32Array.from(new Set(ids)).sort();
  const index = new Map<number, number>();
  unique.forEach((id, k) => index.set(id, k));
  return { unique, where: Int32Array.from(ids, (id) => index.get(id)!) };
}

function isIdentity(dest: ArrayLike<number>, n: number): boolean {
  if (dest.length !== n) return false;
  for (let k = 0; k < n; k++) if (dest[k] !== k) return false;
  return true;
}

function unlimitedListeners(c: AbortController): AbortController {
  setMaxListeners(0, c.signal);
  return c;
}
