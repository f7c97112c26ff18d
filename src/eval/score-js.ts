import { groupMaximaJs, type GroupLayout } from './groups.js';
import type { BlockScorer } from './scorer.js';

/**
 * Scores of a block of users against every item, S = U · Iᵀ, in plain TypeScript: U is [rows, dim] and I is
 * [nItems, dim], both row-major; row r of S starts at out[r · stride] (stride ≥ nItems). Tiles of 2 users × 4 items share their loads (eight
 * accumulators and six operands fit the x86-64 register file, where 4 × 4 spills); leftover users and items
 * take the one-dot path. Every score is accumulated in float64 over d = 0 .. dim-1 in order and then rounded to
 * float32, so a score is the same whichever path computes it.
 */
export function scoreBlockJs(
  users: Float32Array,
  rows: number,
  items: Float32Array,
  nItems: number,
  dim: number,
  out: Float32Array,
  stride = nItems,
): void {
  const shape = { nItems, dim, stride };
  let r = 0;
  for (; r + 2 <= rows; r += 2) scoreUserPair(users, r, items, shape, out);
  if (r < rows) scoreUser(users, r, items, shape, out);
}

interface Shape {
  readonly nItems: number;
  readonly dim: number;
  readonly stride: number;
}

/** Σ_d a[aAt + d] · b[bAt + d], accumulated in order. */
function dot(a: Float32Array, aAt: number, b: Float32Array, bAt: number, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) s += a[aAt + d] * b[bAt + d];
  return s;
}

function scoreUser(users: Float32Array, r: number, items: Float32Array, { nItems, dim, stride }: Shape, out: Float32Array): void {
  const u = r * dim;
  const o = r * stride;
  for (let j = 0; j < nItems; j++) out[o + j] = dot(users, u, items, j * dim, dim);
}

function scoreUserPair(users: Float32Array, r: number, items: Float32Array, { nItems, dim, stride }: Shape, out: Float32Array): void {
  const u0 = r * dim;
  const u1 = u0 + dim;
  const o0 = r * stride;
  const o1 = o0 + stride;
  let j = 0;
  for (; j + 4 <= nItems; j += 4) {
    const i0 = j * dim;
    const i1 = i0 + dim;
    const i2 = i1 + dim;
    const i3 = i2 + dim;
    let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
    for (let d = 0; d < dim; d++) {
      const x0 = users[u0 + d];
      const x1 = users[u1 + d];
      const y0 = items[i0 + d];
      const y1 = items[i1 + d];
      const y2 = items[i2 + d];
      const y3 = items[i3 + d];
      s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
      s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
    }
    out[o0 + j] = s00; out[o0 + j + 1] = s01; out[o0 + j + 2] = s02; out[o0 + j + 3] = s03;
    out[o1 + j] = s10; out[o1 + j + 1] = s11; out[o1 + j + 2] = s12; out[o1 + j + 3] = s13;
  }
  for (; j < nItems; j++) {
    out[o0 + j] = dot(users, u0, items, j * dim, dim);
    out[o1 + j] = dot(users, u1, items, j * dim, dim);
  }
}

/** The plain-TypeScript scorer: reusable buffers around scoreBlockJs and groupMaximaJs. */
export class JsScorer implements BlockScorer {
  private scores = new Float32Array(0);
  private maxima = new Float32Array(0);

  constructor(
    private readonly items: Float32Array,
    readonly layout: GroupLayout,
    private readonly dim: number,
  ) {}

  score(users: Float32Array, rows: number): Float32Array {
    const size = rows * this.layout.stride;
    if (this.scores.length < size) this.scores = new Float32Array(size);
    const out = this.scores.subarray(0, size);
    scoreBlockJs(users, rows, this.items, this.layout.nItems, this.dim, out, this.layout.stride);
    return out;
  }

  groupMaxima(rows: number): Float32Array {
    const size = rows * this.layout.groups;
    if (this.maxima.length < size) this.maxima = new Float32Array(size);
    const out = this.maxima.subarray(0, size);
    groupMaximaJs(this.scores, rows, this.layout, out);
    return out;
  }

  dispose(): void {
    this.scores = new Float32Array(0);
    this.maxima = new Float32Array(0);
  }
}
