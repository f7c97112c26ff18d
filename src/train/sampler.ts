/**
 * Training batches as MMRec draws them: the training pairs shuffled each epoch, one negative per pair drawn
 * uniformly from the items not in the user's training set (rejection sampling). Every draw is keyed by
 * (seed, purpose, epoch, step, pair index), so batches do not depend on how work is split.
 */
import type { Dataset } from '../data/types.js';
import { ConfigError } from '../errors/index.js';
import { hasEntry, nnz } from '../graph/index.js';
import { CounterRng } from '../random/index.js';
import type { Batch } from '../models/types.js';

export class TrainSampler {
  private readonly pairUsers: Int32Array;
  private readonly pairItems: Int32Array;
  private readonly rng: CounterRng;

  constructor(private readonly data: Dataset, seed: number, readonly batchSize: number) {
    const m = data.trainByUser;
    this.pairUsers = new Int32Array(nnz(m));
    for (let u = 0; u < m.nRows; u++) {
      const deg = m.indptr[u + 1] - m.indptr[u];
      if (deg >= data.nItems) throw new ConfigError(`user ${u} has interacted with every item: no negative exists`);
      this.pairUsers.fill(u, m.indptr[u], m.indptr[u + 1]);
    }
    this.pairItems = m.indices;
    this.rng = new CounterRng(seed);
  }

  get pairs(): number {
    return this.pairUsers.length;
  }

  batchesPerEpoch(): number {
    return Math.ceil(this.pairs / this.batchSize);
  }

  /** Every batch of an epoch (1-based epochs), in order. */
  epoch(epoch: number): Batch[] {
    const order = this.rng.permutation(this.pairs, 'shuffle', epoch);
    const batches: Batch[] = [];
    for (let step = 0, start = 0; start < this.pairs; step++, start += this.batchSize) {
      const idx = order.subarray(start, Math.min(start + this.batchSize, this.pairs));
      batches.push(this.batch(epoch, step, idx));
    }
    return batches;
  }

  private batch(epoch: number, step: number, pairIdx: Int32Array): Batch {
    const n = pairIdx.length;
    const users = new Int32Array(n);
    const pos = new Int32Array(n);
    const neg = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      const e = pairIdx[k];
      const u = this.pairUsers[e];
      users[k] = u;
      pos[k] = this.pairItems[e];
      neg[k] = this.negative(u, epoch, e);
    }
    return { epoch, step, users, pos, neg };
  }

  private negative(user: number, epoch: number, pair: number): number {
    const s = this.rng.stream('negative', epoch, 0, pair);
    for (;;) {
      const item = s.nextInt(this.data.nItems);
      if (!hasEntry(this.data.trainByUser, user, item)) return item;
    }
  }
}
