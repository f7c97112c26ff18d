/**
 * A strict reader of the Prometheus text format (0.0.4) for the tests, written from the format's description and
 * independent of the encoder: every sample must belong to a family declared by `# TYPE` before it, label values
 * are unescaped, histogram buckets must be cumulative and end at +Inf with `_count` equal to the +Inf bucket.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';

export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export interface Scrape {
  readonly types: Map<string, string>;
  readonly help: Map<string, string>;
  readonly samples: Sample[];
  /** The value of the one sample with this name and exactly these labels (undefined when absent). */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** The sum over every sample of `name` whose labels include `match`. */
  sum(name: string, match?: Record<string, string>): number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(\\{(.*)\\})? (\\S+)$`);

function parseValue(s: string): number {
  if (s === 'NaN') return NaN;
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  const v = Number(s);
  assert.ok(s !== '' && !Number.isNaN(v), `'${s}' is not a sample value`);
  return v;
}

function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(text.slice(i));
    assert.ok(m, `bad label at '${text.slice(i)}'`);
    i += m[0].length;
    let v = '';
    for (;;) {
      assert.ok(i < text.length, `unterminated label value in '${text}'`);
      const c = text[i++];
      if (c === '"') break;
      if (c === '\\') {
        const e = text[i++];
        assert.ok(e === '\\' || e === '"' || e === 'n', `bad escape \\${e}`);
        v += e === 'n' ? '\n' : e;
      } else {
        assert.notEqual(c, '\n');
        v += c;
      }
    }
    assert.ok(!(m[1] in out), `label ${m[1]} twice`);
    out[m[1]] = v;
    if (text[i] === ',') i++;
  }
  return out;
}

function family(name: string, types: Map<string, string>): string {
  if (types.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && types.get(base) === 'histogram') return base;
  }
  assert.fail(`sample ${name} has no # TYPE before it`);
}

export function parseExposition(text: string): Scrape {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) {
      const [, name, h] = /^# HELP (\S+) (.*)$/.exec(line) ?? assert.fail(`bad HELP line: ${line}`);
      help.set(name, h.replace(/\\n/g, '\n').replace(/\\\\/g, '\\'));
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [, name, type] = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line) ?? assert.fail(`bad TYPE line: ${line}`);
      assert.ok(!types.has(name), `# TYPE ${name} twice`);
      types.set(name, type);
      continue;
    }
    assert.ok(!line.startsWith('#') && line.trim() !== '', `unexpected line '${line}'`);
    const m = SAMPLE.exec(line) ?? assert.fail(`bad sample line: ${line}`);
    const s = { name: m[1], labels: m[3] ? parseLabels(m[3]) : {}, value: parseValue(m[4]) };
    family(s.name, types);
    samples.push(s);
  }
  checkHistograms(types, samples);
  const same = (a: Record<string, string>, b: Record<string, string>) => Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);
  return {
    types,
    help,
    samples,
    value: (name, labels = {}) => samples.find((s) => s.name === name && same(s.labels, labels))?.value,
    sum: (name, match = {}) =>
      samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0),
  };
}

function checkHistograms(types: Map<string, string>, samples: Sample[]): void {
  for (const [name, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const s of samples.filter((x) => x.name === `${name}_bucket`)) {
      const { le: _le, ...rest } = s.labels;
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, buckets] of series) {
      const les = buckets.map((b) => parseValue(b.labels.le));
      les.forEach((le, i) => i > 0 && assert.ok(le > les[i - 1], `${name}${key}: le not increasing`));
      buckets.forEach((b, i) => i > 0 && assert.ok(b.value >= buckets[i - 1].value, `${name}${key}: buckets not cumulative`));
      assert.equal(les.at(-1), Infinity, `${name}${key}: last bucket is +Inf`);
      const count = samples.find((s) => s.name === `${name}_count` && JSON.stringify(s.labels) === key);
      assert.equal(count?.value, buckets.at(-1)!.value, `${name}${key}: _count equals the +Inf bucket`);
    }
  }
}

/** GET http://127.0.0.1:<port><path>: status, content type and body. */
export function httpGet(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Scrapes /metrics and parses it. */
export async function scrape(port: number): Promise<Scrape> {
  const r = await httpGet(port, '/metrics');
  assert.equal(r.status, 200, r.body);
  return parseExposition(r.body);
}
