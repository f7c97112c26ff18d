/**
 * Reference for UnsortedSegmentSum, straight from the definition: for each segment s, the sum of the rows i with
 * ids[i] = s (ids out of range contribute nothing). Float64, O(segments · n · rowSize): for tests only.
 */
export function segmentSumReference(x: ArrayLike<number>, rowSize: number, ids: ArrayLike<number>, numSegments: number): Float64Array {
  const out = new Float64Array(numSegments * rowSize);
  for (let s = 0; s < numSegments; s++) {
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] !== s) continue;
      for (let k = 0; k < rowSize; k++) out[s * rowSize + k] += x[i * rowSize + k];
    }
  }
  return out;
}
