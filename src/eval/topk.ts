import type { GroupLayout } from './groups.js';

/**
 * Selection of the K best items of one padded score row, given the row's group maxima (groups.ts).
 *
 * Order: higher score first; equal scores rank the lower item id first. Items scoring -Infinity (masked) never
 * enter the list, so a row with fewer than K rankable items gives a shorter list, padded with -1. Scores must
 * not be NaN (the evaluator accepts finite embeddings only).
 *
 * Method: L = the K-th largest group maximum bounds the K-th best score from below (groups.ts), so only the
 * groups whose maximum reaches L are scanned, and only their items scoring ≥ L are kept as candidates; a
 * quickselect and a sort of the K best finish the row. For n items in G groups of width w this reads
 * G + about K·w scores instead of n.
 */
export class TopK {
  readonly k: number;
  private score = new Float64Array(0); // candidates
  private item = new Int32Array(0);
  private size = 0;
  private groupMax = new Float64Array(0); // scratch for the bound

  constructor(k: number) {
    this.k = k;
  }

  /**
   * Writes the ranked item ids of the row `scores[offset .. offset + layout.stride)` to `out[outOffset ..
   * outOffset + k)`, given its maxima `maxima[maximaOffset .. maximaOffset + layout.groups)`.
   */
  selectRow(
    scores: Float32Array,
    offset: number,
    maxima: Float32Array,
    maximaOffset: number,
    layout: GroupLayout,
    out: Int32Array,
    outOffset: number,
  ): void {
    const bound = this.bound(maxima, maximaOffset, layout.groups);
    this.reserve(layout.nItems);
    this.size = 0;
    for (let g = 0; g < layout.groups; g++) {
      if (maxima[maximaOffset + g] >= bound) this.scanGroup(scores, offset, layout, g, bound);
    }
    if (this.size > this.k) this.keepBest();
    this.sortKept();
    for (let r = 0; r < this.size; r++) out[outOffset + r] = this.item[r];
    out.fill(-1, outOffset + this.size, outOffset + this.k);
  }

  /** The K-th largest rankable group maximum, or -Infinity when fewer than K groups hold a rankable item. */
  private bound(maxima: Float32Array, at: number, groups: number): number {
    if (this.groupMax.length < groups) this.groupMax = new Float64Array(groups);
    let n = 0;
    for (let g = 0; g < groups; g++) {
      const m = maxima[at + g];
      if (m > -Infinity) this.groupMax[n++] = m;
    }
    return n < this.k ? -Infinity : kthLargest(this.groupMax, n, this.k);
  }

  private reserve(nItems: number): void {
    if (this.score.length >= nItems) return;
    this.score = new Float64Array(nItems);
    this.item = new Int32Array(nItems);
  }

  /** Appends group g's rankable items scoring at least `bound` (items j = g, g + groups, ... below nItems). */
  private scanGroup(scores: Float32Array, offset: number, layout: GroupLayout, g: number, bound: number): void {
    for (let j = g; j < layout.nItems; j += layout.groups) {
      const s = scores[offset + j];
      if (s >= bound && s > -Infinity) {
        this.score[this.size] = s;
        this.item[this.size++] = j;
      }
    }
  }

  /** True when candidate a ranks above candidate b. */
  private better(a: number, b: number): boolean {
    const sa = this.score[a];
    const sb = this.score[b];
    return sa > sb || (sa === sb && this.item[a] < this.item[b]);
  }

  private swap(a: number, b: number): void {
    const s = this.score[a];
    this.score[a] = this.score[b];
    this.score[b] = s;
    const i = this.item[a];
    this.item[a] = this.item[b];
    this.item[b] = i;
  }

  /** Quickselect: the K best candidates move to [0, K) and the rest are dropped. */
  private keepBest(): void {
    const nth = this.k - 1;
    let lo = 0;
    let hi = this.size - 1;
    while (lo < hi) {
      const p = this.partition(lo, hi);
      if (p === nth) break;
      if (p < nth) lo = p + 1;
      else hi = p - 1;
    }
    this.size = this.k;
  }

  /** Lomuto partition of [lo, hi] around the median of lo, mid and hi; returns the pivot's final index. */
  private partition(lo: number, hi: number): number {
    const mid = (lo + hi) >>> 1;
    if (this.better(mid, lo)) this.swap(mid, lo);
    if (this.better(hi, lo)) this.swap(hi, lo);
    if (this.better(mid, hi)) this.swap(mid, hi); // now lo ≥ hi ≥ mid: the median sits at hi
    let store = lo;
    for (let i = lo; i < hi; i++) {
      if (this.better(i, hi)) this.swap(i, store++);
    }
    this.swap(store, hi);
    return store;
  }

  /** Insertion sort of the kept candidates, best first: O(K²), small for the cut-offs in use (K ≤ 100s). */
  private sortKept(): void {
    for (let i = 1; i < this.size; i++) {
      for (let j = i; j > 0 && this.better(j, j - 1); j--) this.swap(j, j - 1);
    }
  }
}

/** The k-th largest of values[0 .. n) (1 ≤ k ≤ n), by quickselect; reorders values. */
export function kthLargest(values: Float64Array, n: number, k: number): number {
  const nth = k - 1;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] > pivot) i++;
      while (values[j] < pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i++] = values[j];
        values[j--] = t;
      }
    }
    // Now [lo, j] ≥ pivot ≥ [i, hi], and (j, i) holds only the pivot value.
    if (nth <= j) hi = j;
    else if (nth >= i) lo = i;
    else break;
  }
  return values[nth];
}
