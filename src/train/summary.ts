/** Mean and sample standard deviation (n − 1) of each metric over seeds. */
export interface MeanStd {
  readonly mean: number;
  readonly std: number;
  readonly n: number;
}

export function meanStd(xs: readonly number[]): MeanStd {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const v = n > 1 ? xs.reduce((a, b) => a + (b - mean) * (b - mean), 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(v), n };
}

export function summarize(runs: readonly Record<string, number>[]): Record<string, MeanStd> {
  const keys = Object.keys(runs[0] ?? {});
  return Object.fromEntries(keys.map((k) => [k, meanStd(runs.map((r) => r[k]))]));
}

export function formatMeanStd(m: MeanStd, digits = 4): string {
  return m.n > 1 ? `${m.mean.toFixed(digits)} ± ${m.std.toFixed(digits)}` : m.mean.toFixed(digits);
}
