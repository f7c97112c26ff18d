/**
 * Compressed sparse rows. Row r's entries are indices[indptr[r] .. indptr[r+1]) with optional values.
 * Column indices are sorted within each row unless a builder says otherwise.
 */
export interface Csr {
  readonly nRows: number;
  readonly nCols: number;
  readonly indptr: Int32Array; // length nRows + 1
  readonly indices: Int32Array; // length nnz
  readonly values?: Float32Array; // length nnz, absent for a binary matrix
}

export function nnz(m: Csr): number {
  return m.indptr[m.nRows];
}

/**
 * Builds a CSR matrix from (row, col[, value]) triples in O(nnz + nRows) by counting sort.
 * Columns are sorted within each row (a second counting pass over columns keeps it linear).
 * Duplicate (row, col) pairs are kept as separate entries.
 */
export function csrFromCoo(
  nRows: number,
  nCols: number,
  rows: Int32Array,
  cols: Int32Array,
  vals?: Float32Array,
): Csr {
  const n = rows.length;
  // First pass: order by column (stable), so that the row pass leaves each row's columns sorted.
  const colPtr = new Int32Array(nCols + 1);
  for (let e = 0; e < n; e++) colPtr[cols[e] + 1]++;
  for (let c = 0; c < nCols; c++) colPtr[c + 1] += colPtr[c];
  const byCol = new Int32Array(n);
  const fill = colPtr.slice(0, nCols);
  for (let e = 0; e < n; e++) byCol[fill[cols[e]]++] = e;

  const indptr = new Int32Array(nRows + 1);
  for (let e = 0; e < n; e++) indptr[rows[e] + 1]++;
  for (let r = 0; r < nRows; r++) indptr[r + 1] += indptr[r];
  const indices = new Int32Array(n);
  const values = vals ? new Float32Array(n) : undefined;
  const next = indptr.slice(0, nRows);
  for (let k = 0; k < n; k++) {
    const e = byCol[k];
    const pos = next[rows[e]]++;
    indices[pos] = cols[e];
    if (values && vals) values[pos] = vals[e];
  }
  return { nRows, nCols, indptr, indices, values };
}

/** The transpose, in O(nnz + nCols). */
export function transpose(m: Csr): Csr {
  const rows = new Int32Array(nnz(m));
  for (let r = 0; r < m.nRows; r++) rows.fill(r, m.indptr[r], m.indptr[r + 1]);
  return csrFromCoo(m.nCols, m.nRows, m.indices, rows, m.values);
}

/** True when column c appears in row r (binary search; rows are sorted). */
export function hasEntry(m: Csr, r: number, c: number): boolean {
  let lo = m.indptr[r];
  let hi = m.indptr[r + 1] - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = m.indices[mid];
    if (v === c) return true;
    if (v < c) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}
