import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEAP_GROWING_PERCENT, heapGrowingPercent } from '../../src/compute/heap-growth.js';
import { ConfigError } from '../../src/errors/index.js';
import { camrec } from '../helpers/cli.js';

test('the heap growth percent: 300 by default, the environment when it names an integer from 0 to 1000', () => {
  assert.equal(HEAP_GROWING_PERCENT, 300);
  assert.equal(heapGrowingPercent({}), 300);
  assert.equal(heapGrowingPercent({ CAMREC_HEAP_GROWING_PERCENT: '' }), 300);
  assert.equal(heapGrowingPercent({ CAMREC_HEAP_GROWING_PERCENT: '0' }), 0);
  assert.equal(heapGrowingPercent({ CAMREC_HEAP_GROWING_PERCENT: '150' }), 150);
  assert.equal(heapGrowingPercent({ CAMREC_HEAP_GROWING_PERCENT: '1000' }), 1000);
  for (const bad of ['abc', '-1', '1.5', '1001', '3e9']) {
    assert.throws(() => heapGrowingPercent({ CAMREC_HEAP_GROWING_PERCENT: bad }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, `CAMREC_HEAP_GROWING_PERCENT: '${bad}' is not an integer from 0 to 1000`);
      return true;
    });
  }
});

test('camrec refuses a bad CAMREC_HEAP_GROWING_PERCENT with one line and exit code 2, before doing anything', async () => {
  const r = await camrec(['--version'], { CAMREC_HEAP_GROWING_PERCENT: 'lots' });
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, "camrec: CAMREC_HEAP_GROWING_PERCENT: 'lots' is not an integer from 0 to 1000\n");
  const ok = await camrec(['--version'], { CAMREC_HEAP_GROWING_PERCENT: '0' });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^\d+\.\d+\.\d+/);
});
