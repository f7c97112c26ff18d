/**
 * Counters, gauges and histograms, and their Prometheus text exposition (format 0.0.4, as
 * prometheus.io/docs/instrumenting/exposition_formats describes it): per metric a `# HELP` and a `# TYPE` line,
 * then one sample per line, `name{label="value",...} number`. Label values escape `\`, `"` and newlines; HELP
 * text escapes `\` and newlines; numbers are Go-style floats (`NaN`, `+Inf`, `-Inf`). A histogram writes
 * cumulative `_bucket{le="..."}` samples ending at `le="+Inf"`, then `_sum` and `_count`.
 *
 * Values that live elsewhere (a shard's counters, a job's phase) are read at scrape time: `onCollect` callbacks
 * run before every exposition and set them, so the hot paths carry no metric code at all.
 */

export type Labels = Readonly<Record<string, string>>;
type Kind = 'counter' | 'gauge' | 'histogram';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A metric or label name that Prometheus would refuse, or a label set that does not match the declared names. */
export class MetricError extends Error {
  readonly code = 'METRIC';
  constructor(message: string) {
    super(message);
    this.name = 'MetricError';
  }
}

abstract class Metric {
  protected readonly series = new Map<string, { labels: Labels }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly kind: Kind,
    readonly labelNames: readonly string[],
  ) {
    if (!METRIC_NAME.test(name)) throw new MetricError(`metric name '${name}' is not [a-zA-Z_:][a-zA-Z0-9_:]*`);
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith('__') || l === 'le') throw new MetricError(`metric ${name}: label name '${l}' is not allowed`);
    }
  }

  /** The series key of a label set, checked against the declared label names. */
  protected key(labels: Labels): string {
    const names = Object.keys(labels);
    if (names.length !== this.labelNames.length || this.labelNames.some((l) => !(l in labels))) {
      throw new MetricError(`metric ${this.name}: labels {${names.join(',')}} are not {${this.labelNames.join(',')}}`);
    }
    return this.labelNames.map((l) => labels[l]).join('\u0000');
  }

  abstract samples(): string[];

  expose(): string {
    return [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.kind}`, ...this.samples()].join('\n');
  }
}

class ScalarMetric extends Metric {
  private readonly values = new Map<string, number>();

  constructor(name: string, help: string, kind: Kind, labelNames: readonly string[]) {
    super(name, help, kind, labelNames);
    // A metric without labels is exported from the start (at 0), so that rate() and alerts see it before it moves.
    if (labelNames.length === 0) this.update({}, () => 0);
  }

  protected update(labels: Labels, f: (old: number) => number): void {
    const k = this.key(labels);
    if (!this.series.has(k)) this.series.set(k, { labels: { ...labels } });
    this.values.set(k, f(this.values.get(k) ?? 0));
  }

  /** The current value of one series (0 when it has none yet). */
  get(labels: Labels = {}): number {
    return this.values.get(this.key(labels)) ?? 0;
  }

  samples(): string[] {
    return [...this.series].map(([k, s]) => `${this.name}${labelText(s.labels)} ${formatValue(this.values.get(k) ?? 0)}`);
  }
}

/** Only goes up (by a finite amount ≥ 0), or is set from a source counter that only goes up. */
export class Counter extends ScalarMetric {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    if (!name.endsWith('_total')) throw new MetricError(`counter '${name}' must end in _total`);
    super(name, help, 'counter', labelNames);
  }

  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0) || !Number.isFinite(by)) throw new MetricError(`counter ${this.name}: increment ${by} is not a finite number ≥ 0`);
    this.update(labels, (v) => v + by);
  }

  /**
   * Copies a counter kept elsewhere, read at scrape time. A value below the last one is a reset (the source
   * started again), which Prometheus's rate() already handles as a process restart.
   */
  setTotal(labels: Labels, total: number): void {
    this.update(labels, () => total);
  }
}

export class Gauge extends ScalarMetric {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, 'gauge', labelNames);
  }

  set(labels: Labels, value: number): void {
    this.update(labels, () => value);
  }

  inc(labels: Labels = {}, by = 1): void {
    this.update(labels, (v) => v + by);
  }
}

export class Histogram extends Metric {
  private readonly data = new Map<string, { counts: number[]; sum: number; count: number }>();
  readonly buckets: readonly number[];

  constructor(name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []) {
    super(name, help, 'histogram', labelNames);
    if (buckets.length === 0 || buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]))) {
      throw new MetricError(`histogram ${name}: buckets must be finite and increasing`);
    }
    this.buckets = [...buckets];
    if (labelNames.length === 0) this.series.set('', { labels: {} });
  }

  observe(labels: Labels, value: number): void {
    if (Number.isNaN(value)) throw new MetricError(`histogram ${this.name}: observed NaN`);
    const k = this.key(labels);
    if (!this.series.has(k)) this.series.set(k, { labels: { ...labels } });
    const d = this.data.get(k) ?? { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    this.buckets.forEach((b, i) => {
      if (value <= b) d.counts[i]++;
    });
    d.sum += value;
    d.count++;
    this.data.set(k, d);
  }

  /** Observations of one series so far. */
  count(labels: Labels = {}): number {
    return this.data.get(this.key(labels))?.count ?? 0;
  }

  samples(): string[] {
    const out: string[] = [];
    for (const [k, s] of this.series) {
      const d = this.data.get(k) ?? { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText({ ...s.labels, le: formatValue(b) })} ${d.counts[i]}`));
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${d.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${formatValue(d.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${d.count}`);
    }
    return out;
  }
}

/** The metrics of one process. Names are unique; `expose()` runs the collect callbacks, then writes every metric. */
export class Registry {
  private readonly metrics = new Map<string, Metric>();
  private readonly collectors: (() => void)[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }

  histogram(name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []): Histogram {
    return this.add(new Histogram(name, help, buckets, labelNames));
  }

  /** `fn` runs before every exposition: it sets metrics whose values live elsewhere. */
  onCollect(fn: () => void): void {
    this.collectors.push(fn);
  }

  expose(): string {
    for (const c of this.collectors) c();
    return `${[...this.metrics.values()].map((m) => m.expose()).join('\n')}\n`;
  }

  private add<M extends Metric>(m: M): M {
    if (this.metrics.has(m.name)) throw new MetricError(`metric ${m.name} is registered twice`);
    this.metrics.set(m.name, m);
    return m;
  }
}

/** Buckets for durations in seconds, 5 ms to 10 min. */
export const SECONDS_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabel(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}
