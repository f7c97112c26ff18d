/**
 * Item groups for pruning the top-K scan. A score row is padded to `stride = groups × width` columns and item j
 * belongs to group j mod groups, so the group maxima of a block are one max-pool over `width` rows of a
 * [width, groups] matrix: contiguous along the SIMD lanes in XNNPACK. If at least K groups have a maximum
 * ≥ L, then at least K rankable items score ≥ L, so the K-th best score is ≥ L and no group whose maximum is
 * below L can hold a top-K item.
 */
export interface GroupLayout {
  readonly nItems: number;
  readonly groups: number;
  readonly width: number;
  /** Columns of a padded score row; columns nItems .. stride-1 are padding, set to -Infinity. */
  readonly stride: number;
}

/**
 * The scan reads about `groups` maxima and then K groups of `width` items: width ≈ √(nItems / K) minimises
 * groups + K·width with groups·width ≈ nItems.
 */
export function groupLayout(nItems: number, k: number): GroupLayout {
  const width = Math.max(1, Math.round(Math.sqrt(nItems / k)));
  const groups = Math.max(1, Math.ceil(nItems / width));
  return { nItems, groups, width, stride: groups * width };
}

/** maxima[r, g] = max over w of scores[r, w·groups + g], for `rows` padded rows (the plain-TypeScript path). */
export function groupMaximaJs(scores: Float32Array, rows: number, layout: GroupLayout, maxima: Float32Array): void {
  const { groups, width, stride } = layout;
  for (let r = 0; r < rows; r++) {
    const row = r * stride;
    const out = r * groups;
    maxima.set(scores.subarray(row, row + groups), out);
    for (let w = 1; w < width; w++) {
      const at = row + w * groups;
      for (let g = 0; g < groups; g++) {
        const s = scores[at + g];
        if (s > maxima[out + g]) maxima[out + g] = s;
      }
    }
  }
}
