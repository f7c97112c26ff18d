/**
 * MMRec's interaction file `<name>.inter`: tab-separated, one header line naming the columns
 * (`userID itemID rating timestamp x_label`; only userID, itemID and x_label are required, in any order, and other
 * columns are allowed), then one interaction per line. Ids are 0-based integers; x_label is 0 = train, 1 = valid,
 * 2 = test. Lines may end in LF or CRLF; the last line may lack its newline.
 */
import { readFile } from 'node:fs/promises';
import { DataError, type DataLocation } from '../errors/index.js';
import type { Interactions } from './types.js';

export const USER_COLUMN = 'userID';
export const ITEM_COLUMN = 'itemID';
export const LABEL_COLUMN = 'x_label';
const SPLIT_NAMES = ['train', 'valid', 'test'] as const;

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const MINUS = 0x2d;
const ZERO = 0x30;
const INT32_MAX = 0x7fffffff;

export interface InterSplits {
  readonly train: Interactions;
  readonly valid: Interactions;
  readonly test: Interactions;
  readonly nUsers: number; // max user id over all splits + 1
  readonly nItems: number; // max item id over all splits + 1
  /** The 1-based line where the largest item id first appears, so later checks can point at it. */
  readonly maxItemLine: number;
}

/** Optional upper bounds: every user id must be < nUsers and every item id < nItems. */
export interface InterLimits {
  readonly nUsers?: number;
  readonly nItems?: number;
}

export async function readInter(path: string, limits?: InterLimits): Promise<InterSplits> {
  return parseInter(await readFile(path), path, limits);
}

/** Parses the bytes of a .inter file; `file` names it in errors (DataError with the 1-based line and the column). */
export function parseInter(bytes: Uint8Array, file: string, limits: InterLimits = {}): InterSplits {
  const headerEnd = lineEnd(bytes, 0);
  const columns = readHeader(bytes, headerEnd, file);
  const maxRows = countLines(bytes, headerEnd + 1);
  const rows = { users: new Int32Array(maxRows), items: new Int32Array(maxRows), labels: new Uint8Array(maxRows) };
  const ctx: LineContext = { file, line: 1 };
  const cells = new Int32Array(6);
  let n = 0;
  let maxUser = -1;
  let maxItem = -1;
  let maxItemLine = 0;
  for (let pos = headerEnd + 1; pos < bytes.length; ) {
    ctx.line++;
    const end = lineEnd(bytes, pos);
    locateCells(bytes, pos, end > pos && bytes[end - 1] === CR ? end - 1 : end, columns, cells, ctx);
    const user = parseId(bytes, cells[0], cells[1], ctx, USER_COLUMN, limits.nUsers);
    const item = parseId(bytes, cells[2], cells[3], ctx, ITEM_COLUMN, limits.nItems);
    rows.users[n] = user;
    rows.items[n] = item;
    rows.labels[n++] = parseLabel(bytes, cells[4], cells[5], ctx);
    if (user > maxUser) maxUser = user;
    if (item > maxItem) {
      maxItem = item;
      maxItemLine = ctx.line;
    }
    pos = end + 1;
  }
  const [train, valid, test] = partition(rows.users, rows.items, rows.labels, n, file);
  return { train, valid, test, nUsers: maxUser + 1, nItems: maxItem + 1, maxItemLine };
}

interface ColumnIndex {
  readonly names: readonly string[];
  readonly user: number;
  readonly item: number;
  readonly label: number;
}

function readHeader(bytes: Uint8Array, end: number, file: string): ColumnIndex {
  const text = new TextDecoder().decode(bytes.subarray(0, end)).replace(/\r$/, '');
  if (text.trim() === '') throw new DataError({ file, line: 1 }, 'empty file: expected a header line naming the columns');
  const names = text.split('\t');
  const find = (name: string): number => {
    const i = names.indexOf(name);
    if (i < 0) {
      const hint = names.length === 1 && /\s/.test(text) ? ' (columns must be separated by tabs)' : '';
      throw new DataError({ file, line: 1, field: name }, `header has no '${name}' column${hint}; it has ${names.join(', ')}`);
    }
    if (names.indexOf(name, i + 1) >= 0) throw new DataError({ file, line: 1, field: name }, `header names '${name}' twice`);
    return i;
  };
  return { names, user: find(USER_COLUMN), item: find(ITEM_COLUMN), label: find(LABEL_COLUMN) };
}

/** Where the parser is; errors add the column name. */
interface LineContext {
  readonly file: string;
  line: number;
}

function at(ctx: LineContext, field: string): DataLocation {
  return { file: ctx.file, line: ctx.line, field };
}

/**
 * Splits one line at tabs and returns the [start, end) offsets of the userID, itemID and x_label cells
 * into `cells` (as [us, ue, is, ie, ls, le]); a line whose cell count differs from the header's is an error.
 */
function locateCells(bytes: Uint8Array, start: number, stop: number, cols: ColumnIndex, cells: Int32Array, ctx: LineContext): void {
  let col = 0;
  for (let cellStart = start, p = start; ; p++) {
    if (p < stop && bytes[p] !== TAB) continue;
    const slot = col === cols.user ? 0 : col === cols.item ? 2 : col === cols.label ? 4 : -1;
    if (slot >= 0) {
      cells[slot] = cellStart;
      cells[slot + 1] = p;
    }
    col++;
    cellStart = p + 1;
    if (p >= stop) break;
  }
  const want = cols.names.length;
  if (col === want) return;
  if (stop === start) throw new DataError(at(ctx, cols.names[0]), `empty line; expected ${want} tab-separated columns`);
  const field = col < want ? cols.names[col] : `column ${want + 1}`;
  throw new DataError(at(ctx, field), `malformed line: ${col} tab-separated columns, the header has ${want}`);
}

/**
 * A non-negative decimal int32 id. Errors say whether the cell is empty, negative, not an integer or out of range;
 * `limit` (when given) is an exclusive upper bound.
 */
function parseId(bytes: Uint8Array, start: number, end: number, ctx: LineContext, field: string, limit?: number): number {
  const negative = end > start && bytes[start] === MINUS;
  let value = 0;
  let p = negative ? start + 1 : start;
  if (p === end) throw new DataError(at(ctx, field), `'${cellText(bytes, start, end)}' is not an integer`);
  for (; p < end; p++) {
    const digit = bytes[p] - ZERO;
    if (digit < 0 || digit > 9) throw new DataError(at(ctx, field), `'${cellText(bytes, start, end)}' is not an integer`);
    value = value * 10 + digit;
  }
  if (negative && value !== 0) throw new DataError(at(ctx, field), `negative id ${cellText(bytes, start, end)}; ids are 0-based`);
  if (value > INT32_MAX) throw new DataError(at(ctx, field), `id ${cellText(bytes, start, end)} is larger than ${INT32_MAX}`);
  if (limit !== undefined && value >= limit) throw new DataError(at(ctx, field), `id ${value} is out of range: expected ids 0..${limit - 1}`);
  return value;
}

function parseLabel(bytes: Uint8Array, start: number, end: number, ctx: LineContext): number {
  const digit = end - start === 1 ? bytes[start] - ZERO : -1;
  if (digit < 0 || digit > 2) {
    throw new DataError(at(ctx, LABEL_COLUMN), `'${cellText(bytes, start, end)}' is not a split label: 0 (train), 1 (valid) or 2 (test)`);
  }
  return digit;
}

/** Splits the rows by label, keeping file order within each split; every split must be non-empty. */
function partition(users: Int32Array, items: Int32Array, labels: Uint8Array, n: number, file: string): Interactions[] {
  const counts = [0, 0, 0];
  for (let r = 0; r < n; r++) counts[labels[r]]++;
  const splits = counts.map((c) => ({ users: new Int32Array(c), items: new Int32Array(c) }));
  const fill = [0, 0, 0];
  for (let r = 0; r < n; r++) {
    const s = labels[r];
    splits[s].users[fill[s]] = users[r];
    splits[s].items[fill[s]++] = items[r];
  }
  counts.forEach((c, s) => {
    if (c === 0) {
      throw new DataError({ file, field: LABEL_COLUMN }, `the ${SPLIT_NAMES[s]} split is empty: no line has ${LABEL_COLUMN} ${s}`);
    }
  });
  return splits;
}

/** Offset of the '\n' ending the line that starts at `pos`, or the file length. */
function lineEnd(bytes: Uint8Array, pos: number): number {
  const i = bytes.indexOf(LF, pos);
  return i < 0 ? bytes.length : i;
}

/** Number of lines starting at `pos` (a final line without '\n' counts). */
function countLines(bytes: Uint8Array, pos: number): number {
  let n = 0;
  for (let p = pos; p < bytes.length; p = lineEnd(bytes, p) + 1) n++;
  return n;
}

function cellText(bytes: Uint8Array, start: number, end: number): string {
  return new TextDecoder().decode(bytes.subarray(start, end));
}
