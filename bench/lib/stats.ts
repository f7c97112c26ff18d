/** The median of a non-empty list (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of an empty list');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The median of each field over a list of records with the same numeric fields. */
export function medians<K extends string>(runs: readonly Record<K, number>[]): Record<K, number> {
  if (runs.length === 0) throw new RangeError('medians of no runs');
  const keys = Object.keys(runs[0]) as K[];
  return Object.fromEntries(keys.map((k) => [k, median(runs.map((r) => r[k]))])) as Record<K, number>;
}
