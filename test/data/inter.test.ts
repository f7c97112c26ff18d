import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseInter, readInter } from '../../src/data/index.js';
import { SHARED_DATASETS, assertDataError, put, tempDir } from './helpers.js';

const HEADER = 'userID\titemID\trating\ttimestamp\tx_label';

/** A .inter file from rows of cells, tab-separated, LF line ends. */
function inter(rows: (string | number)[][], header = HEADER): string {
  return [header, ...rows.map((r) => r.join('\t'))].join('\n') + '\n';
}

const GOOD = [
  [0, 3, 1, 0, 0],
  [0, 1, 1, 0, 0],
  [1, 2, 1, 0, 0],
  [0, 0, 1, 0, 1],
  [1, 4, 1, 0, 2],
];

describe('.inter reader', () => {
  it('splits the interactions by x_label, in file order, and counts users and items over all splits', async () => {
    const path = put(tempDir(), 'x.inter', inter(GOOD));
    const s = await readInter(path);
    assert.deepEqual(s.train, { users: Int32Array.from([0, 0, 1]), items: Int32Array.from([3, 1, 2]) });
    assert.deepEqual(s.valid, { users: Int32Array.from([0]), items: Int32Array.from([0]) });
    assert.deepEqual(s.test, { users: Int32Array.from([1]), items: Int32Array.from([4]) });
    assert.equal(s.nUsers, 2);
    assert.equal(s.nItems, 5);
    assert.equal(s.maxItemLine, 6);
  });

  it('finds the columns by header name, allows extra columns, CRLF line ends and a missing final newline', () => {
    const text = 'x_label\tscore\titemID\tuserID\r\n0\t0.5\t7\t2\r\n1\tnan\t1\t0\r\n2\t\t9\t1';
    const s = parseInter(Buffer.from(text), 'y.inter');
    assert.deepEqual(s.train, { users: Int32Array.from([2]), items: Int32Array.from([7]) });
    assert.deepEqual(s.valid, { users: Int32Array.from([0]), items: Int32Array.from([1]) });
    assert.deepEqual(s.test, { users: Int32Array.from([1]), items: Int32Array.from([9]) });
    assert.equal(s.nUsers, 3);
    assert.equal(s.nItems, 10);
  });

  it('reads the 6 MB MicroLens file within a few hundred ms of CPU and gets the README counts', async () => {
    const path = join(SHARED_DATASETS, 'microlens-50k', 'microlens-50k.inter');
    const bytes = readFileSync(path);
    const cpu0 = process.cpuUsage();
    const s = parseInter(bytes, path);
    const cpu = process.cpuUsage(cpu0);
    assert.deepEqual([s.nUsers, s.nItems], [49075, 17228]);
    assert.deepEqual([s.train.users.length, s.valid.users.length, s.test.users.length], [250111, 50543, 51991]);
    const ms = (cpu.user + cpu.system) / 1000;
    assert.ok(ms < 500, `parsing took ${ms.toFixed(0)} ms of CPU`);
  });
});

describe('.inter reader refuses bad input, naming file, line and column', () => {
  const cases: { name: string; text: string; line?: number; field: string; reason: RegExp }[] = [
    { name: 'a line with too few columns', text: inter([[0, 1, 1, 0, 0], [0, 2, 1, 0]]), line: 3, field: 'x_label', reason: /malformed line: 4 tab-separated columns, the header has 5/ },
    { name: 'a line with too many columns', text: inter([[0, 1, 1, 0, 0, 9]]), line: 2, field: 'column 6', reason: /malformed line: 6 tab-separated columns, the header has 5/ },
    { name: 'space-separated cells', text: inter([[0, 1, 1, 0, 0], ['1 2 1 0 0']]), line: 3, field: 'itemID', reason: /malformed line: 1 tab-separated columns/ },
    { name: 'an empty line', text: inter([[0, 1, 1, 0, 0], [], [1, 1, 1, 0, 0]]), line: 3, field: 'userID', reason: /empty line; expected 5 tab-separated columns/ },
    { name: 'a non-integer user id', text: inter([[0, 1, 1, 0, 0], ['u7', 1, 1, 0, 1]]), line: 3, field: 'userID', reason: /'u7' is not an integer/ },
    { name: 'a fractional item id', text: inter([[0, '1.0', 1, 0, 0]]), line: 2, field: 'itemID', reason: /'1.0' is not an integer/ },
    { name: 'an empty item id', text: inter([[0, '', 1, 0, 0]]), line: 2, field: 'itemID', reason: /'' is not an integer/ },
    { name: 'a negative item id', text: inter([[0, 1, 1, 0, 0], [0, 2, 1, 0, 1], [3, -4, 1, 0, 2]]), line: 4, field: 'itemID', reason: /negative id -4; ids are 0-based/ },
    { name: 'an id beyond int32', text: inter([[2147483648, 1, 1, 0, 0]]), line: 2, field: 'userID', reason: /id 2147483648 is larger than 2147483647/ },
    { name: 'an x_label of 3', text: inter([[0, 1, 1, 0, 0], [0, 2, 1, 0, 3]]), line: 3, field: 'x_label', reason: /'3' is not a split label: 0 \(train\), 1 \(valid\) or 2 \(test\)/ },
    { name: 'an x_label of "train"', text: inter([[0, 1, 1, 0, 'train']]), line: 2, field: 'x_label', reason: /'train' is not a split label/ },
    { name: 'a header without x_label', text: inter([[0, 1, 1, 0]], 'userID\titemID\trating\ttimestamp'), line: 1, field: 'x_label', reason: /header has no 'x_label' column; it has userID, itemID, rating, timestamp/ },
    { name: 'a space-separated header', text: 'userID itemID x_label\n0 1 0\n', line: 1, field: 'userID', reason: /header has no 'userID' column \(columns must be separated by tabs\)/ },
    { name: 'a header naming a column twice', text: inter([[0, 1, 0, 0]], 'userID\titemID\titemID\tx_label'), line: 1, field: 'itemID', reason: /header names 'itemID' twice/ },
    { name: 'an empty file', text: '', line: 1, field: '', reason: /empty file: expected a header line/ },
    { name: 'a header and nothing else', text: `${HEADER}\n`, field: 'x_label', reason: /the train split is empty: no line has x_label 0/ },
    { name: 'no valid interactions', text: inter([[0, 1, 1, 0, 0], [0, 2, 1, 0, 2]]), field: 'x_label', reason: /the valid split is empty: no line has x_label 1/ },
    { name: 'no test interactions', text: inter([[0, 1, 1, 0, 0], [0, 2, 1, 0, 1]]), field: 'x_label', reason: /the test split is empty: no line has x_label 2/ },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}`, async () => {
      const path = put(tempDir(), 'bad.inter', c.text);
      const where = { file: path, ...(c.line !== undefined ? { line: c.line } : {}), ...(c.field !== '' ? { field: c.field } : {}) };
      await assertDataError(() => readInter(path), where, c.reason);
    });
  }

  it('refuses ids at or beyond the expected counts', async () => {
    const path = put(tempDir(), 'x.inter', inter(GOOD));
    await assertDataError(() => readInter(path, { nItems: 4 }), { file: path, line: 6, field: 'itemID' }, /id 4 is out of range: expected ids 0\.\.3/);
    await assertDataError(() => readInter(path, { nUsers: 1 }), { file: path, line: 4, field: 'userID' }, /id 1 is out of range: expected ids 0\.\.0/);
    assert.equal((await readInter(path, { nUsers: 2, nItems: 5 })).nItems, 5);
  });
});
