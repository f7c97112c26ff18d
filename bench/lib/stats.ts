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

/**
 * Runs every variant once to warm up (compile, grow heaps, start workers), then `repeats` interleaved rounds, so a
 * busy spell on the machine hits every variant alike; returns each variant's times in ms.
 */
export function timeInterleaved(variants: Readonly<Record<string, () => void>>, repeats: number): Record<string, number[]> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (const run of Object.values(variants)) run();
  for (let rep = 0; rep < repeats; rep++) {
    for (const [name, run] of Object.entries(variants)) {
      const t0 = performance.now();
      run();
      times[name].push(performance.now() - t0);
    }
  }
  return times;
}
