/** Staleness samples, histograms and their summary against hand-computed values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { histogramOf, mergeHistograms, stalenessSamples, summarizeStaleness } from '../../src/coordinator/index.js';

test('a sample is applied − read for each (table, shard) both read and applied; pairs on one side only give none', () => {
  const reads = [
    { table: 'user', shard: 0, version: 4 },
    { table: 'user', shard: 1, version: 4 },
    { table: 'item', shard: 0, version: 9 },
    { table: 'mlp', shard: 1, version: 2 },
  ];
  const applied = [
    { table: 'user', shard: 0, version: 6 },
    { table: 'user', shard: 1, version: 4 },
    { table: 'item', shard: 0, version: 9 },
    { table: 'item', shard: 1, version: 30 },
  ];
  assert.deepEqual(stalenessSamples(reads, applied), [
    { table: 'user', staleness: 2 },
    { table: 'user', staleness: 0 },
    { table: 'item', staleness: 0 },
  ]);
});

test('summary: count, mean, nearest-rank p50 and p95, max per table; histograms merge by adding counts', () => {
  // user: 0 ×10, 1 ×6, 3 ×3, 7 ×1 → 20 samples, mean (6 + 9 + 7)/20 = 1.1, p50 = 10th value = 0, p95 = 19th = 3, max 7.
  const samples = [
    ...Array.from({ length: 10 }, () => ({ table: 'user', staleness: 0 })),
    ...Array.from({ length: 6 }, () => ({ table: 'user', staleness: 1 })),
    ...Array.from({ length: 3 }, () => ({ table: 'user', staleness: 3 })),
    { table: 'user', staleness: 7 },
    { table: 'item', staleness: 2 },
  ];
  const half = samples.length >> 1;
  const merged = mergeHistograms(histogramOf(samples.slice(0, half)), histogramOf(samples.slice(half)));
  assert.deepEqual(merged, histogramOf(samples));
  assert.deepEqual(summarizeStaleness(merged), {
    item: { count: 1, mean: 2, p50: 2, p95: 2, max: 2 },
    user: { count: 20, mean: 1.1, p50: 0, p95: 3, max: 7 },
  });
  assert.deepEqual(summarizeStaleness({}), {});
  // The histogram survives a JSON round trip (it is kept in checkpoints).
  assert.deepEqual(summarizeStaleness(JSON.parse(JSON.stringify(merged))), summarizeStaleness(merged));
});
