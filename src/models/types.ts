import type * as tf from '@tensorflow/tfjs';
import type { z } from 'zod';
import type { Dataset } from '../data/types.js';
import type { TableSpec } from '../train/tables.js';

/** One training batch of (user, positive item, negative item) triples. */
export interface Batch {
  readonly epoch: number;
  readonly step: number;
  readonly users: Int32Array;
  readonly pos: Int32Array;
  readonly neg: Int32Array;
}

/** Pulled rows of one table: row r of `value` is table row `ids[r]` (every row, in order, when ids is null). */
export interface Param {
  readonly value: tf.Tensor2D;
  readonly ids: Int32Array | null;
}

export type Params = Readonly<Record<string, Param>>;

export interface LossOutput {
  readonly total: tf.Scalar;
  readonly parts: Readonly<Record<string, tf.Scalar>>;
}

/** Final user and item representations; a model's score for (u, i) is their dot product. */
export interface Representations {
  readonly users: tf.Tensor2D;
  readonly items: tf.Tensor2D;
}

/** What a model's preparation may depend on besides the data: the run's seed (for keyed noise). */
export interface PrepareContext {
  readonly seed: number;
}

/** What `prepare` computed once from the data (graphs, handles); released by `release`. */
export interface Prepared {
  release(): void;
}

/**
 * A model's loss on the message-flow blocks of a batch (src/graph/blocks.ts): the same values and gradients as its
 * `loss` with every row, from the rows of the batch's last frontier only. `B` is what `blocks` built for one batch
 * (frontiers, registered sparse blocks); the caller releases it after the step.
 */
export interface NeighbourhoodLoss<H, P extends Prepared, B extends Prepared> {
  blocks(batch: Batch, prep: P, hyper: H): B;
  /** Rows of each table the loss reads on these blocks (sorted, unique). */
  rows(blocks: B): Record<string, Int32Array>;
  loss(params: Params, batch: Batch, blocks: B, prep: P, hyper: H): LossOutput;
}

/**
 * A model is a pure function of its declared tables (DESIGN.md §3): it never logs, touches files or the
 * network, or keeps state outside its tables and what `prepare` derived from the data.
 */
export interface Model<H extends Record<string, unknown> = Record<string, unknown>, P extends Prepared = Prepared> {
  readonly name: string;
  readonly description: string;
  /** The model's hyper-parameters with their defaults (zod schema: validates and fills defaults). */
  readonly hyper: z.ZodType<H>;
  /**
   * The loss parts that are means over the batch's triples, `(1/n) Σ_i ℓ_i`, with ℓ_i depending on the parameters
   * and on triple i only. A distributed bsp step weights a task's mean of these by its share of the batch; every
   * other part (EmbLoss, in-batch contrastive terms, terms over the batch's unique rows) is computed once per step,
   * over the whole batch, by one task (docs/distributed.md). Absent: no part is split. The parts of `loss` must sum
   * to its total.
   */
  readonly meanTerms?: readonly string[];
  /**
   * The parts of `loss` that are not in `meanTerms`, computed without the rest: the same values (and gradients) as
   * those parts of `loss(params, batch, ...)`. A distributed step's batch-terms task calls it on the whole batch
   * instead of the full loss (for LightGCN: EmbLoss on ego rows, no propagation). Absent: `loss` is called.
   */
  batchTerms?(params: Params, batch: Batch, prep: P, hyper: H): Readonly<Record<string, tf.Scalar>>;
  /** Rows of each table `batchTerms` reads (sorted, unique; null: every row). Absent: `rows`. */
  batchTermRows?(batch: Batch, prep: P, hyper: H): Record<string, Int32Array | null>;
  /**
   * The loss computed from the batch's L-hop neighbourhood alone, on message-flow blocks, for models whose loss
   * reads the graph only there (docs/distributed.md §5). Absent: the model has no block forward.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly neighbourhood?: NeighbourhoodLoss<H, P, any>;
  prepare(data: Dataset, hyper: H, ctx: PrepareContext): P;
  tables(data: Dataset, hyper: H): TableSpec[];
  /** Rows of each table the batch's loss reads (null: every row). Ids sorted and unique. */
  rows(batch: Batch, prep: P, hyper: H): Record<string, Int32Array | null>;
  loss(params: Params, batch: Batch, prep: P, hyper: H): LossOutput;
  /** Representations for scoring every user and item (params hold every row). */
  represent(params: Params, prep: P, hyper: H): Representations;
}
