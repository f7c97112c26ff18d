import type { GroupLayout } from './groups.js';

/** Which implementation computes a block of scores: tfjs-wasm (XNNPACK SIMD) or plain TypeScript loops. */
export type ScoreKernel = 'wasm' | 'js';

/** Scores blocks of users against every item; the items and their group layout are fixed at construction. */
export interface BlockScorer {
  readonly layout: GroupLayout;
  /**
   * S = U · Iᵀ for U = `users` ([rows, dim], row-major), as [rows, layout.stride] with row-major padded rows
   * (the padding columns hold arbitrary values). The caller may overwrite S; it stays valid until the next call
   * to score or dispose.
   */
  score(users: Float32Array, rows: number): Float32Array;
  /** The group maxima ([rows, layout.groups], see groups.ts) of the block last scored, as the caller left it. */
  groupMaxima(rows: number): Float32Array;
  dispose(): void;
}
