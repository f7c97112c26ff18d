// The bench helpers; run with `node --import tsx --test bench/test/lib.test.ts` (not part of `npm test`).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { numberAt, parseJsonLine, runJsonChild } from '../lib/child.js';
import { compareToTargets } from '../lib/compare.js';
import { BenchError } from '../lib/errors.js';
import { median, medians } from '../lib/stats.js';
import { formatTable } from '../lib/table.js';

test('median: middle value, mean of the two middle ones for an even count, input left unsorted', () => {
  const xs = [5, 1, 3];
  assert.equal(median(xs), 3);
  assert.deepEqual(xs, [5, 1, 3]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), RangeError);
  assert.deepEqual(medians([{ a: 1, b: 9 }, { a: 3, b: 7 }, { a: 2, b: 8 }]), { a: 2, b: 8 });
});

test('parseJsonLine: the last non-empty line, only when it is a JSON object', () => {
  assert.deepEqual(parseJsonLine('progress\n{"x":1}\n\n'), { x: 1 });
  assert.equal(parseJsonLine('{"x":1}\nnot json\n'), null);
  assert.equal(parseJsonLine('[1,2]\n'), null);
  assert.equal(parseJsonLine(''), null);
});

test('numberAt: reads dotted paths and names the missing field', () => {
  const json = { valid: { 'recall@20': 0.06 }, s: 'x' };
  assert.equal(numberAt(json, 'valid.recall@20', 'run'), 0.06);
  assert.throws(() => numberAt(json, 's', 'run'), (e: BenchError) => e.code === 'CHILD_FAILED' && e.message.includes("'s'"));
  assert.throws(() => numberAt(json, 'test.recall@20', 'run'), BenchError);
});

test('compareToTargets: ratio ours/peer, met at or below the target, only for fields with a target', () => {
  const r = compareToTargets({ t: 3, m: 500, q: 1 }, { t: 2, m: 200, q: 1 }, { t: 1.5, m: 2 });
  assert.deepEqual(Object.keys(r), ['t', 'm']);
  assert.equal(r.t.ratio, 1.5);
  assert.equal(r.t.met, true);
  assert.equal(r.m.met, false);
});

test('formatTable: columns padded to the widest cell, Markdown alignment rule', () => {
  const t = formatTable(['name', 'x'], [['tiktok', '1.25'], ['baby', '10.5']]).split('\n');
  assert.deepEqual(t, ['| name   |    x |', '|:-------|-----:|', '| tiktok | 1.25 |', '| baby   | 10.5 |']);
});

test('runJsonChild: a real child; its result line, or a CHILD_FAILED error with its stderr tail', async () => {
  const ok = await runJsonChild(process.execPath, ['-e', 'console.log("hi"); console.log(JSON.stringify({a: 2}))'], { label: 'ok' });
  assert.deepEqual(ok.json, { a: 2 });
  assert.ok(ok.wallSeconds > 0);
  const failing = runJsonChild(process.execPath, ['-e', 'console.error("boom-123"); process.exit(4)'], { label: 'bad child' });
  await assert.rejects(failing, (e: BenchError) => e.code === 'CHILD_FAILED' && /bad child: exited with 4/.test(e.message) && e.message.includes('boom-123'));
  const silent = runJsonChild(process.execPath, ['-e', 'console.log("no json")'], { label: 'silent' });
  await assert.rejects(silent, (e: BenchError) => e.message.includes('printed no JSON result line') && e.message.includes('no json'));
  const slow = runJsonChild(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { label: 'slow', timeoutMs: 200 });
  await assert.rejects(slow, (e: BenchError) => e.message.includes('timed out'));
  const missing = runJsonChild('/nonexistent/interpreter', [], { label: 'missing' });
  await assert.rejects(missing, (e: BenchError) => e.message.includes('could not start'));
});

test('parseLayout: local:W:S and local:W:S/T, nothing else', async () => {
  const { parseLayout } = await import('../suites/distributed.js');
  assert.deepEqual(parseLayout('local:2:1'), { layout: 'local:2:1', tasks: null });
  assert.deepEqual(parseLayout('local:2:2/4'), { layout: 'local:2:2', tasks: 4 });
  for (const bad of ['local:0:1', 'local:2', 'local:2:2/0', 'k8s:2:2', 'local:2:2/4/1', ' local:1:1']) assert.equal(parseLayout(bad), null, bad);
});

test('per-process CPU: every process started with cpu-report.mjs in its execArgv reports its own CPU time by role', async () => {
  const { readProcessCpu } = await import('../suites/distributed.js');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { execFileSync } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'cpu-report-test-'));
  try {
    // A "launcher" that burns some CPU and starts two children the way camrec does (its own execArgv and script).
    const script = join(dir, 'fake-camrec.mjs');
    writeFileSync(
      script,
      `import { spawnSync } from 'node:child_process';
const t = Date.now(); let x = 0; while (Date.now() - t < 60) x += Math.sqrt(x + 1);
if (process.argv[2] === 'train') for (const role of ['worker', 'paramserver']) spawnSync(process.execPath, [...process.execArgv, process.argv[1], role], { stdio: 'inherit' });
`,
    );
    const report = join(dir, 'out');
    (await import('node:fs')).mkdirSync(report);
    const cpuReport = new URL('../lib/cpu-report.mjs', import.meta.url).pathname;
    execFileSync(process.execPath, ['--import', cpuReport, script, 'train'], { env: { ...process.env, CAMREC_BENCH_CPU_DIR: report } });
    const p = readProcessCpu(report);
    assert.equal(p.coordinator, null);
    assert.equal(p.workers.length, 1);
    assert.equal(p.shards.length, 1);
    for (const cpu of [p.launcher!, p.workers[0], p.shards[0]]) assert.ok(cpu >= 0.05 && cpu < 30, `CPU ${cpu} s`);
    // Without the variable nothing is written.
    const quiet = join(dir, 'quiet');
    (await import('node:fs')).mkdirSync(quiet);
    const env = { ...process.env };
    delete env.CAMREC_BENCH_CPU_DIR;
    execFileSync(process.execPath, ['--import', cpuReport, script, 'worker'], { env });
    assert.deepEqual(readProcessCpu(quiet), { launcher: null, coordinator: null, workers: [], shards: [] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
