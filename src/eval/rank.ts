import type { Csr } from '../graph/index.js';
import type { GroupLayout } from './groups.js';
import type { BlockScorer } from './scorer.js';
import type { TopK } from './topk.js';

/** What every block of one evaluation reads; in workers, the arrays are views of SharedArrayBuffers. */
export interface RankingData {
  /** The evaluated users' embeddings, gathered in evaluation order: [users.length, dim]. */
  readonly userRows: Float32Array;
  /** Every item's embedding: [nItems, dim]. */
  readonly itemRows: Float32Array;
  /** The evaluated user ids, in evaluation order. */
  readonly users: Int32Array;
  /** Items excluded from each user's ranking (MMRec masks the user's train items): users × items. */
  readonly mask: Csr;
  readonly dim: number;
  /** Length of each ranked list: the largest K. */
  readonly k: number;
  readonly layout: GroupLayout;
}

/**
 * Sets the masked items and the padding of a score row to -Infinity, so that neither can be selected nor raise
 * a group maximum.
 */
function maskRow(scores: Float32Array, offset: number, data: RankingData, user: number): void {
  const { mask, layout } = data;
  for (let e = mask.indptr[user]; e < mask.indptr[user + 1]; e++) scores[offset + mask.indices[e]] = -Infinity;
  scores.fill(-Infinity, offset + layout.nItems, offset + layout.stride);
}

/**
 * Ranks the evaluated users start .. end-1: scores them against every item, masks their train items and keeps
 * the top K of each. Returns [end - start, K] item ids, best first (TopK's order), -1-padded.
 */
export function rankBlock(scorer: BlockScorer, data: RankingData, topK: TopK, start: number, end: number): Int32Array {
  const rows = end - start;
  const { dim, k, layout } = data;
  const scores = scorer.score(data.userRows.subarray(start * dim, end * dim), rows);
  for (let r = 0; r < rows; r++) maskRow(scores, r * layout.stride, data, data.users[start + r]);
  const maxima = scorer.groupMaxima(rows);
  const ranked = new Int32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    topK.selectRow(scores, r * layout.stride, maxima, r * layout.groups, layout, ranked, r * k);
  }
  return ranked;
}
