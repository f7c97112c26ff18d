/**
 * Measured staleness (docs/distributed.md §1): for every gradient applied to a table on a shard, the number of
 * updates that table received on that shard between the worker's read and the application,
 *
 *     staleness = (the table's version the gradient was applied on top of) − (the version the worker pulled),
 *
 * 0 when nothing else changed the table in between — always so under bsp, where a step's tasks all read the state
 * after the previous commit and are applied together on top of it. Samples are counted per table in a histogram
 * (value → count), which merges across epochs and survives a checkpoint as JSON.
 */

/** A table's version on one shard. */
export interface ShardVersion {
  readonly table: string;
  readonly shard: number;
  readonly version: number;
}

/** Per table: staleness value → how many applied gradients had it. */
export type StalenessHistogram = Readonly<Record<string, Readonly<Record<string, number>>>>;

export interface StalenessSummary {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p95: number;
  readonly max: number;
}

/**
 * One task's samples: for each (table, shard) it read whose gradient was applied there, applied − read. `applied`
 * is the version the update went on top of (a push or commit reply's version minus the one update it made).
 */
export function stalenessSamples(reads: readonly ShardVersion[], applied: readonly ShardVersion[]): { table: string; staleness: number }[] {
  const at = new Map(applied.map((a) => [`${a.table}\u0000${a.shard}`, a.version]));
  const out: { table: string; staleness: number }[] = [];
  for (const r of reads) {
    const v = at.get(`${r.table}\u0000${r.shard}`);
    if (v !== undefined) out.push({ table: r.table, staleness: v - r.version });
  }
  return out;
}

export function histogramOf(samples: readonly { table: string; staleness: number }[]): StalenessHistogram {
  const out: Record<string, Record<string, number>> = {};
  for (const s of samples) {
    const counts = (out[s.table] ??= {});
    counts[s.staleness] = (counts[s.staleness] ?? 0) + 1;
  }
  return out;
}

export function mergeHistograms(a: StalenessHistogram, b: StalenessHistogram): StalenessHistogram {
  const out: Record<string, Record<string, number>> = Object.fromEntries(Object.entries(a).map(([t, c]) => [t, { ...c }]));
  for (const [table, counts] of Object.entries(b)) {
    const into = (out[table] ??= {});
    for (const [v, n] of Object.entries(counts)) into[v] = (into[v] ?? 0) + n;
  }
  return out;
}

/** Per table: count, mean, median, 95th percentile (nearest rank) and maximum. */
export function summarizeStaleness(h: StalenessHistogram): Record<string, StalenessSummary> {
  const out: Record<string, StalenessSummary> = {};
  for (const table of Object.keys(h).sort()) {
    const bins = Object.entries(h[table])
      .map(([v, n]) => [Number(v), n] as const)
      .sort((x, y) => x[0] - y[0]);
    const count = bins.reduce((s, [, n]) => s + n, 0);
    if (count === 0) continue;
    const rank = (p: number) => {
      const want = Math.max(1, Math.ceil(p * count));
      let seen = 0;
      for (const [v, n] of bins) if ((seen += n) >= want) return v;
      return bins[bins.length - 1][0];
    };
    const mean = bins.reduce((s, [v, n]) => s + v * n, 0) / count;
    out[table] = { count, mean, p50: rank(0.5), p95: rank(0.95), max: bins[bins.length - 1][0] };
  }
  return out;
}
