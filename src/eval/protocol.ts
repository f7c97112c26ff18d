import type { RankingData } from './rank.js';
import type { ScoreKernel } from './scorer.js';

/** What a worker is started with. */
export interface WorkerSetup {
  readonly kernel: ScoreKernel;
}

/**
 * Messages to a worker. `load` starts an evaluation: its arrays are views of SharedArrayBuffers, so posting
 * them shares the memory instead of copying it. `rank` asks for one block of users; `run` numbers the
 * evaluation, so that a late answer from an evaluation that failed can never be taken for the current one's.
 */
export type ToWorker =
  | { readonly type: 'load'; readonly data: RankingData }
  | { readonly type: 'rank'; readonly run: number; readonly block: number; readonly start: number; readonly end: number };

/** Messages from a worker: `ready` once its kernel is set up; `ranked` with a block's lists (transferred). */
export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'ranked'; readonly run: number; readonly block: number; readonly ranked: Int32Array };
