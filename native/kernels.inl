// Kernel bodies, compiled once per instruction set. The including file defines CAMREC_ISA_NS (the
// namespace), CAMREC_VW (floats per vector) and CAMREC_ISA_NAME, and includes every standard header
// before any `#pragma GCC target`, so that no standard-library code is compiled for a wider ISA than
// the generic one (the linker could otherwise keep that copy for everyone). Only GCC/Clang vector
// extensions are used, so the same text compiles for SSE2, AVX2+FMA and NEON.

namespace camrec {
namespace CAMREC_ISA_NS {
namespace {

constexpr int VW = CAMREC_VW;  // floats per vector
constexpr int NR = 2 * VW;     // items per register tile (= per packed panel)
constexpr int MR = 6;          // users per register tile: 2*MR accumulators + 2 panel vectors + 1 broadcast

typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));

inline vf splat(float x) {
  vf v;
  for (int i = 0; i < VW; ++i) v[i] = x;
  return v;
}

// Local helpers rather than std::min/std::max: no standard template gets instantiated in this file.
inline int64_t lesser(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t greater(int64_t a, int64_t b) { return a > b ? a : b; }

inline vf loadu(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void storeu(float* p, vf v) { std::memcpy(p, &v, sizeof v); }

// Bit l set when lane l of the comparison result m is true.
inline uint32_t laneBits(vi m) {
#if defined(CAMREC_ISA_AVX2)
  return static_cast<uint32_t>(_mm256_movemask_ps(reinterpret_cast<__m256>(m)));
#else
  uint32_t bits = 0;
  for (int l = 0; l < VW; ++l) bits |= static_cast<uint32_t>(m[l] != 0) << l;
  return bits;
#endif
}

// ---- sparse x dense -------------------------------------------------------------------------------

// Columns [d0, d0 + NV*VW) of one output row; Weighted is false for a binary matrix.
// Rows of x are gathered at random, so the loop asks for the row kPrefetch non-zeros ahead (up to `limit`,
// the end of the caller's non-zeros).
constexpr int64_t kPrefetch = 16;

template <int NV, bool Weighted>
inline void spmmChunk(const SpmmArgs& a, int64_t begin, int64_t end, int64_t limit, int64_t d0, float* o) {
  vf acc[NV];
#pragma GCC unroll 8
  for (int q = 0; q < NV; ++q) acc[q] = vf{};
  for (int64_t e = begin; e < end; ++e) {
    if (e + kPrefetch < limit) {
      const float* ahead = a.x + static_cast<int64_t>(a.indices[e + kPrefetch]) * a.dim + d0;
      for (int q = 0; q < NV * VW; q += 16) __builtin_prefetch(ahead + q);
    }
    const float* xr = a.x + static_cast<int64_t>(a.indices[e]) * a.dim + d0;
    const float v = Weighted ? a.values[e] : 1.0f;
#pragma GCC unroll 8
    for (int q = 0; q < NV; ++q) acc[q] += v * loadu(xr + q * VW);
  }
#pragma GCC unroll 8
  for (int q = 0; q < NV; ++q) storeu(o + d0 + q * VW, acc[q]);
}

template <bool Weighted>
inline void spmmTail(const SpmmArgs& a, int64_t begin, int64_t end, int64_t d0, float* o) {
  const int64_t rem = a.dim - d0;
  float acc[VW] = {};
  for (int64_t e = begin; e < end; ++e) {
    const float* xr = a.x + static_cast<int64_t>(a.indices[e]) * a.dim + d0;
    const float v = Weighted ? a.values[e] : 1.0f;
    for (int64_t t = 0; t < rem; ++t) acc[t] += v * xr[t];
  }
  for (int64_t t = 0; t < rem; ++t) o[d0 + t] = acc[t];
}

template <bool Weighted>
void spmmRowsImpl(const SpmmArgs& a, int64_t rowStart, int64_t rowEnd) {
  const int64_t limit = a.indptr[rowEnd];
  for (int64_t r = rowStart; r < rowEnd; ++r) {
    const int64_t begin = a.indptr[r];
    const int64_t end = a.indptr[r + 1];
    float* o = a.out + r * a.dim;
    int64_t d0 = 0;
    for (; a.dim - d0 >= 8 * VW; d0 += 8 * VW) spmmChunk<8, Weighted>(a, begin, end, limit, d0, o);
    if (a.dim - d0 >= 4 * VW) { spmmChunk<4, Weighted>(a, begin, end, limit, d0, o); d0 += 4 * VW; }
    if (a.dim - d0 >= 2 * VW) { spmmChunk<2, Weighted>(a, begin, end, limit, d0, o); d0 += 2 * VW; }
    if (a.dim - d0 >= VW) { spmmChunk<1, Weighted>(a, begin, end, limit, d0, o); d0 += VW; }
    if (d0 < a.dim) spmmTail<Weighted>(a, begin, end, d0, o);
  }
}

void spmmRows(const SpmmArgs& a, int64_t rowStart, int64_t rowEnd) {
  if (a.values != nullptr) spmmRowsImpl<true>(a, rowStart, rowEnd);
  else spmmRowsImpl<false>(a, rowStart, rowEnd);
}

// ---- sampled dense-dense product ------------------------------------------------------------------

// One row r: a[r] stays in registers (up to 64 columns at a time) while the rows b[col(p)] are read at
// random, prefetched kPrefetch entries ahead. Each entry's sum is independent of the others, so results do not
// depend on how rows are split over threads.
template <int NV>
inline void sddmmChunk(const SddmmArgs& a, int64_t begin, int64_t end, int64_t limit, const float* ar, int64_t d0,
                       bool first) {
  vf av[NV];
#pragma GCC unroll 8
  for (int q = 0; q < NV; ++q) av[q] = loadu(ar + d0 + q * VW);
  for (int64_t e = begin; e < end; ++e) {
    if (e + kPrefetch < limit) {
      const float* ahead = a.b + static_cast<int64_t>(a.indices[e + kPrefetch]) * a.dim + d0;
      for (int q = 0; q < NV * VW; q += 16) __builtin_prefetch(ahead + q);
    }
    const float* br = a.b + static_cast<int64_t>(a.indices[e]) * a.dim + d0;
    vf acc = av[0] * loadu(br);
#pragma GCC unroll 8
    for (int q = 1; q < NV; ++q) acc += av[q] * loadu(br + q * VW);
    float s = 0.0f;
    for (int l = 0; l < VW; ++l) s += acc[l];
    a.out[e] = first ? s : a.out[e] + s;
  }
}

void sddmmRows(const SddmmArgs& a, int64_t rowStart, int64_t rowEnd) {
  const int64_t limit = a.indptr[rowEnd];
  for (int64_t r = rowStart; r < rowEnd; ++r) {
    const int64_t begin = a.indptr[r];
    const int64_t end = a.indptr[r + 1];
    const float* ar = a.a + r * a.dim;
    int64_t d0 = 0;
    for (; a.dim - d0 >= 8 * VW; d0 += 8 * VW) sddmmChunk<8>(a, begin, end, limit, ar, d0, d0 == 0);
    if (a.dim - d0 >= 4 * VW) { sddmmChunk<4>(a, begin, end, limit, ar, d0, d0 == 0); d0 += 4 * VW; }
    if (a.dim - d0 >= 2 * VW) { sddmmChunk<2>(a, begin, end, limit, ar, d0, d0 == 0); d0 += 2 * VW; }
    if (a.dim - d0 >= VW) { sddmmChunk<1>(a, begin, end, limit, ar, d0, d0 == 0); d0 += VW; }
    if (d0 == a.dim) continue;
    for (int64_t e = begin; e < end; ++e) {
      const float* br = a.b + static_cast<int64_t>(a.indices[e]) * a.dim;
      float s = d0 == 0 ? 0.0f : a.out[e];
      for (int64_t t = d0; t < a.dim; ++t) s += ar[t] * br[t];
      a.out[e] = s;
    }
  }
}

// ---- tanh ------------------------------------------------------------------------------------------

// Eigen's float tanh (GenericPacketMathFunctions.h, ptanh_float): a [13/6] rational approximation on
// [-7.905, 7.905], where it reaches ±1 in float32, and x itself for |x| < 4e-4. NaN stays NaN.
inline vf tanhVector(vf x) {
  const vf c = splat(7.90531110763549805f);
  vf y = x > c ? c : x;
  y = y < -c ? -c : y;
  const vf x2 = y * y;
  vf p = x2 * splat(-2.76076847742355e-16f) + splat(2.00018790482477e-13f);
  p = x2 * p + splat(-8.60467152213735e-11f);
  p = x2 * p + splat(5.12229709037114e-08f);
  p = x2 * p + splat(1.48572235717979e-05f);
  p = x2 * p + splat(6.37261928875436e-04f);
  p = x2 * p + splat(4.89352455891786e-03f);
  p = y * p;
  vf q = x2 * splat(1.19825839466702e-06f) + splat(1.18534705686654e-04f);
  q = x2 * q + splat(2.26843463243900e-03f);
  q = x2 * q + splat(4.89352518554385e-03f);
  const vf r = p / q;
  const vf ax = x < splat(0.0f) ? -x : x;
  return ax < splat(0.0004f) ? x : r;
}

void tanhRange(const float* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + VW <= n; i += VW) storeu(out + i, tanhVector(loadu(x + i)));
  if (i == n) return;
  float tail[VW] = {};
  for (int64_t t = i; t < n; ++t) tail[t - i] = x[t];
  const vf r = tanhVector(loadu(tail));
  for (int64_t t = i; t < n; ++t) out[t] = r[t - i];
}

// ---- exp -------------------------------------------------------------------------------------------

// Cephes' expf: x = n·ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 split in two for an exact product), a degree-7
// polynomial for e^r, and 2^n put into the exponent bits. Valid for x in [-87, 88], where 2^n is a normal
// float; lanes below -104 are 0 (exp rounds to +0 there), the others outside (and NaN) are redone by std::exp,
// so every input gets a correct result.
inline vf expVector(vf x) {
  const vf fx = x * splat(1.44269504088896341f) + splat(0.5f);
  vf n;
  for (int l = 0; l < VW; ++l) n[l] = __builtin_floorf(fx[l]);
  vf r = x - n * splat(0.693359375f);
  r = r - n * splat(-2.12194440e-4f);
  const vf r2 = r * r;
  vf y = r * splat(1.9875691500E-4f) + splat(1.3981999507E-3f);
  y = y * r + splat(8.3334519073E-3f);
  y = y * r + splat(4.1665795894E-2f);
  y = y * r + splat(1.6666665459E-1f);
  y = y * r + splat(5.0000001201E-1f);
  y = y * r2 + r + splat(1.0f);
  vi bits;
  for (int l = 0; l < VW; ++l) bits[l] = (static_cast<int32_t>(n[l]) + 127) << 23;
  vf scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

// Lanes of v in [-87, 88]; the others (and NaN) become 0 for expVector and are redone by std::exp.
inline void expLanes(const float* x, float* out, int64_t count) {
  float lane[VW] = {};
  for (int64_t l = 0; l < count; ++l) lane[l] = x[l];
  const vf v = loadu(lane);
  const vi ok = (v >= splat(-87.0f)) & (v <= splat(88.0f));
  const vf y = expVector(ok ? v : splat(0.0f));
  for (int64_t l = 0; l < count; ++l) out[l] = ok[l] ? y[l] : __builtin_expf(x[l]);
}

void expRange(const float* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + VW <= n; i += VW) {
    const vf v = loadu(x + i);
    const vi ok = (v >= splat(-87.0f)) & (v <= splat(88.0f));
    const vi zero = v < splat(-104.0f);  // exp(x) < 2^-150: rounds to +0
    const uint32_t okBits = laneBits(ok);
    if (okBits == (1u << VW) - 1) storeu(out + i, expVector(v));
    else if ((okBits | laneBits(zero)) == (1u << VW) - 1) storeu(out + i, ok ? expVector(ok ? v : splat(0.0f)) : splat(0.0f));
    else expLanes(x + i, out + i, VW);
  }
  if (i < n) expLanes(x + i, out + i, n - i);
}

void expShiftedRows(float* z, int64_t rows, int64_t cols, float scale, float* max, float* sums) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = z + r * cols;
    // scaled and stored first, so that the maximum's own entry becomes exactly exp(0) = 1
    for (int64_t s = 0; s < cols; ++s) row[s] *= scale;
    float m = -__builtin_inff();
    for (int64_t s = 0; s < cols; ++s) m = row[s] > m || row[s] != row[s] ? row[s] : m;
    for (int64_t s = 0; s < cols; ++s) row[s] -= m;
    expRange(row, row, cols);
    double sum = 0;
    for (int64_t s = 0; s < cols; ++s) sum += row[s];
    max[r] = m;
    sums[r] = static_cast<float>(sum);
  }
}

// ---- edge-mask MLP ------------------------------------------------------------------------------------

// row = a[u] + bias (the part of v shared by the user's edges).
inline void userRow(const EdgeMlpArgs& g, int64_t u, float* row) {
  const float* au = g.a + u * g.h;
  int64_t j = 0;
  for (; j + VW <= g.h; j += VW) storeu(row + j, loadu(au + j) + loadu(g.bias + j));
  for (; j < g.h; ++j) row[j] = au[j] + g.bias[j];
}

// Asks for the row of `x` that edge e + kEdgePrefetch reads (up to `end`, the caller's last edge): rows of b are
// read at random.
constexpr int64_t kEdgePrefetch = 24;

template <int Write>
inline void prefetchEdgeRow(const float* x, const int32_t* items, int64_t e, int64_t end, int64_t h) {
  if (e + kEdgePrefetch >= end) return;
  const float* ahead = x + static_cast<int64_t>(items[e + kEdgePrefetch]) * h;
  for (int64_t q = 0; q < h; q += 16) __builtin_prefetch(ahead + q, Write);
}

void edgeMlpRows(const EdgeMlpArgs& g, float outBias, int64_t u0, int64_t u1, float* omega, float* row) {
  const int64_t vecEnd = g.h - g.h % VW;
  const int64_t last = g.indptr[u1];
  for (int64_t u = u0; u < u1; ++u) {
    if (g.indptr[u] == g.indptr[u + 1]) continue;
    userRow(g, u, row);
    for (int64_t e = g.indptr[u]; e < g.indptr[u + 1]; ++e) {
      prefetchEdgeRow<0>(g.b, g.items, e, last, g.h);
      const float* bi = g.b + static_cast<int64_t>(g.items[e]) * g.h;
      vf acc = vf{};
      for (int64_t j = 0; j < vecEnd; j += VW) {
        const vf v = loadu(row + j) + loadu(bi + j);
        acc += (v > splat(0.0f) ? v : vf{}) * loadu(g.wo + j);
      }
      float s = 0.0f;
      for (int l = 0; l < VW; ++l) s += acc[l];
      s += outBias;
      for (int64_t j = vecEnd; j < g.h; ++j) {
        const float v = row[j] + bi[j];
        if (v > 0.0f) s += v * g.wo[j];
      }
      omega[e] = s;
    }
  }
}

void edgeMlpGradRows(const EdgeMlpGradArgs& g, int64_t u0, int64_t u1, float* row) {
  const EdgeMlpArgs& m = g.mlp;
  const int64_t vecEnd = m.h - m.h % VW;
  const int64_t last = m.indptr[u1];
  for (int64_t u = u0; u < u1; ++u) {
    float* gau = g.ga + u * m.h;
    for (int64_t j = 0; j < m.h; ++j) gau[j] = 0.0f;
    if (m.indptr[u] == m.indptr[u + 1]) continue;
    userRow(m, u, row);
    for (int64_t e = m.indptr[u]; e < m.indptr[u + 1]; ++e) {
      prefetchEdgeRow<0>(m.b, m.items, e, last, m.h);
      prefetchEdgeRow<1>(g.gb, m.items, e, last, m.h);
      const float ge = g.g[e];
      if (ge == 0.0f) continue;
      const int64_t i = m.items[e];
      const float* bi = m.b + i * m.h;
      float* gbi = g.gb + i * m.h;
      const vf gv = splat(ge);
      for (int64_t j = 0; j < vecEnd; j += VW) {
        const vf v = loadu(row + j) + loadu(bi + j);
        const vi on = v > splat(0.0f);
        const vf t = on ? gv * loadu(m.wo + j) : vf{};
        storeu(gau + j, loadu(gau + j) + t);
        storeu(gbi + j, loadu(gbi + j) + t);
        storeu(g.gOut + j, loadu(g.gOut + j) + (on ? gv * v : vf{}));
      }
      for (int64_t j = vecEnd; j < m.h; ++j) {
        const float v = row[j] + bi[j];
        if (v <= 0.0f) continue;
        const float t = ge * m.wo[j];
        gau[j] += t;
        gbi[j] += t;
        g.gOut[j] += ge * v;
      }
    }
  }
}

// ---- column sums -----------------------------------------------------------------------------------

void columnSums(const float* x, int64_t rows, int64_t cols, double scale, float* out) {
  constexpr int64_t kBlock = 256;  // columns summed at a time: their double accumulators stay in L1
  double acc[kBlock];
  for (int64_t j0 = 0; j0 < cols; j0 += kBlock) {
    const int64_t width = lesser(kBlock, cols - j0);
    for (int64_t j = 0; j < width; ++j) acc[j] = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = x + r * cols + j0;
      for (int64_t j = 0; j < width; ++j) acc[j] += row[j];
    }
    for (int64_t j = 0; j < width; ++j) out[j0 + j] = static_cast<float>(acc[j] * scale);
  }
}

void scatterAddRows(const float* x, const int32_t* ids, int64_t n, int64_t inner, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0) continue;
    float* o = out + static_cast<int64_t>(ids[i]) * inner;
    const float* xi = x + i * inner;
    int64_t k = 0;
    for (; k + VW <= inner; k += VW) storeu(o + k, loadu(o + k) + loadu(xi + k));
    for (; k < inner; ++k) o[k] += xi[k];
  }
}

void gatherScaled(const float* values, const int32_t* ids, const float* scale, int64_t n, float* out) {
  for (int64_t p = 0; p < n; ++p) out[p] = scale[p] * values[ids[p]];
}

void scatterScaled(const float* values, const int32_t* ids, const float* scale, int64_t n, float* out) {
  // the product is exact in double and the sum rounds once, as TypeScript's out[i] += s * v on float32 arrays
  for (int64_t p = 0; p < n; ++p) out[ids[p]] = static_cast<float>(out[ids[p]] + static_cast<double>(scale[p]) * values[p]);
}

// ---- scoring fused with top-k ---------------------------------------------------------------------

void packItems(const float* itemEmb, int64_t nItems, int64_t dim, float* packed) {
  const int64_t panels = (nItems + NR - 1) / NR;
  for (int64_t p = 0; p < panels; ++p) {
    float* dst = packed + p * dim * NR;
    for (int64_t c = 0; c < NR; ++c) {
      const int64_t item = p * NR + c;
      for (int64_t d = 0; d < dim; ++d) dst[d * NR + c] = item < nItems ? itemEmb[item * dim + d] : 0.0f;
    }
  }
}

// Rows of MR users, dimension-major ([dim][MR]): one pointer serves every broadcast of the register tile.
void packUsers(const ScoreArgs& a, int64_t t, int64_t rows, float* tile) {
  for (int64_t r = 0; r < MR; ++r) {
    const float* src = r < rows ? a.userEmb + static_cast<int64_t>(a.users[t + r]) * a.dim : nullptr;
    for (int64_t d = 0; d < a.dim; ++d) tile[d * MR + r] = src != nullptr ? src[d] : 0.0f;
  }
}

// The MR x NR scores of a user tile against one item panel, kept in registers.
inline void tileScores(const float* ut, const float* panel, int64_t dim, vf acc[MR][2]) {
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = vf{};
  const vf* p = reinterpret_cast<const vf*>(__builtin_assume_aligned(panel, 64));
  for (int64_t d = 0; d < dim; ++d, p += 2, ut += MR) {
    const vf b0 = p[0];
    const vf b1 = p[1];
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      acc[r][0] += ut[r] * b0;
      acc[r][1] += ut[r] * b1;
    }
  }
}

// rows[r][0 .. panels*NR) = scores of tile user r against every (padded) item.
void scoreTile(const ScoreArgs& a, const float* ut, int64_t panels, float* rows, int64_t stride) {
  for (int64_t p = 0; p < panels; ++p) {
    vf acc[MR][2];
    tileScores(ut, a.packedItems + p * a.dim * NR, a.dim, acc);
    float* o = static_cast<float*>(__builtin_assume_aligned(rows + p * NR, 64));
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      reinterpret_cast<vf*>(o + r * stride)[0] = acc[r][0];
      reinterpret_cast<vf*>(o + r * stride)[1] = acc[r][1];
    }
  }
}

// Top-k of one score row of n floats (a multiple of VW), masked and padded places already -Infinity.
// Items are split into about 2k groups (lane l of perGroup consecutive vectors). The k-th largest group
// maximum t is a lower bound of the k-th best score (k groups hold an item >= t), so the items >= t are
// few (about 1.4k on random data) and hold the whole top-k.
void selectRow(float* row, int64_t n, int64_t k, const ScoreScratch& s, float* outScores, int32_t* outItems) {
  const float ninf = -__builtin_inff();
  const int64_t vectors = n / VW;
  const int64_t perGroup = greater(1, n / (2 * k));
  int64_t groups = 0;
  for (int64_t v0 = 0; v0 < vectors; v0 += perGroup) {
    const int64_t v1 = lesser(vectors, v0 + perGroup);
    vf m0 = splat(ninf);
    vf m1 = m0;  // two chains, so that loads overlap
    int64_t v = v0;
    for (; v + 1 < v1; v += 2) {
      const vf x0 = loadu(row + v * VW);
      const vf x1 = loadu(row + (v + 1) * VW);
      m0 = x0 > m0 ? x0 : m0;  // a NaN score never becomes a maximum
      m1 = x1 > m1 ? x1 : m1;
    }
    if (v < v1) {
      const vf x0 = loadu(row + v * VW);
      m0 = x0 > m0 ? x0 : m0;
    }
    storeu(s.groupMax + groups, m1 > m0 ? m1 : m0);
    groups += VW;
  }
  const float t = kthLargest(s.groupMax, groups, k);
  const vf bound = splat(t > ninf ? t : -__FLT_MAX__);  // NaN and -Infinity are never ranked
  int64_t c = 0;
  for (int64_t v = 0; v < vectors; ++v) {
    for (uint32_t bits = laneBits(loadu(row + v * VW) >= bound); bits != 0; bits &= bits - 1) {
      const int64_t item = v * VW + __builtin_ctz(bits);
      s.cand[c++] = rankKey(row[item], static_cast<int32_t>(item));
    }
  }
  writeTopK(s.cand, c, k, outScores, outItems);
}

void scoreTopK(const ScoreArgs& a, int64_t first, int64_t last, const ScoreScratch& s) {
  const int64_t panels = (a.nItems + NR - 1) / NR;
  const int64_t stride = panels * NR;
  const float ninf = -__builtin_inff();
  for (int64_t t = first; t < last; t += MR) {
    const int64_t rows = lesser(MR, last - t);
    packUsers(a, t, rows, s.userTile);
    scoreTile(a, s.userTile, panels, s.rows, stride);
    for (int64_t r = 0; r < rows; ++r) {
      float* row = s.rows + r * stride;
      const int32_t u = a.users[t + r];
      for (int64_t e = a.maskIndptr[u]; e < a.maskIndptr[u + 1]; ++e) row[a.maskIndices[e]] = ninf;
      for (int64_t i = a.nItems; i < stride; ++i) row[i] = ninf;
      selectRow(row, stride, a.k, s, a.outScores + (t + r) * a.k, a.outItems + (t + r) * a.k);
    }
  }
}

// ---- dense products ------------------------------------------------------------------------------

// R rows of c (R <= MR) against one panel of b: acc[r] = a[r, :] · panel, both halves of NR columns.
template <int R>
inline void rowsTimesPanel(const float* a, int64_t k, const float* panel, vf acc[MR][2]) {
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = vf{};
  for (int64_t d = 0; d < k; ++d, panel += NR) {
    const vf b0 = loadu(panel);
    const vf b1 = loadu(panel + VW);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const float x = a[r * k + d];
      acc[r][0] += x * b0;
      acc[r][1] += x * b1;
    }
  }
}

template <int R>
void gemmTile(const GemmRowsArgs& g, int64_t i0) {
  const int64_t panels = (g.n + NR - 1) / NR;
  for (int64_t p = 0; p < panels; ++p) {
    vf acc[MR][2];
    rowsTimesPanel<R>(g.a + i0 * g.k, g.k, g.bPanels + p * g.k * NR, acc);
    const int64_t c0 = p * NR;
    const int64_t cols = lesser(NR, g.n - c0);
    for (int r = 0; r < R; ++r) {
      float* o = g.c + (i0 + r) * g.n + c0;
      if (cols == NR) {
        storeu(o, acc[r][0]);
        storeu(o + VW, acc[r][1]);
      } else {
        float tmp[NR];
        storeu(tmp, acc[r][0]);
        storeu(tmp + VW, acc[r][1]);
        for (int64_t j = 0; j < cols; ++j) o[j] = tmp[j];
      }
    }
  }
}

void gemmRows(const GemmRowsArgs& g, int64_t rowStart, int64_t rowEnd) {
  int64_t i = rowStart;
  for (; i + MR <= rowEnd; i += MR) gemmTile<MR>(g, i);
  switch (rowEnd - i) {
    case 5: gemmTile<5>(g, i); break;
    case 4: gemmTile<4>(g, i); break;
    case 3: gemmTile<3>(g, i); break;
    case 2: gemmTile<2>(g, i); break;
    case 1: gemmTile<1>(g, i); break;
    default: break;
  }
}

// acc += the outer products of `depth` packed rows: one MR x NR register tile per (a panel, b panel).
void gemmOuter(const GemmOuterArgs& g) {
  const int64_t stride = g.nPanels * NR;
  for (int64_t t = 0; t < g.mTiles; ++t) {
    for (int64_t p = 0; p < g.nPanels; ++p) {
      vf acc[MR][2];
#pragma GCC unroll 6
      for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = vf{};
      const float* ap = g.aPanels + t * g.depth * MR;
      const float* bp = g.bPanels + p * g.depth * NR;
      for (int64_t d = 0; d < g.depth; ++d, ap += MR, bp += NR) {
        const vf b0 = loadu(bp);
        const vf b1 = loadu(bp + VW);
#pragma GCC unroll 6
        for (int r = 0; r < MR; ++r) {
          acc[r][0] += ap[r] * b0;
          acc[r][1] += ap[r] * b1;
        }
      }
#pragma GCC unroll 6
      for (int r = 0; r < MR; ++r) {
        float* o = g.acc + (t * MR + r) * stride + p * NR;
        storeu(o, loadu(o) + acc[r][0]);
        storeu(o + VW, loadu(o + VW) + acc[r][1]);
      }
    }
  }
}

// R rows (R <= MR) of acc from row i0 and NR columns from j0 (GemmOuterDirectArgs).
template <int R>
void outerDirectTile(const GemmOuterDirectArgs& g, int64_t i0, int64_t j0) {
  vf acc[MR][2];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = vf{};
  const float* ap = g.a + g.d0 * g.m + i0;
  const float* bp = g.b + g.d0 * g.n + j0;
  for (int64_t d = 0; d < g.depth; ++d, ap += g.m, bp += g.n) {
    const vf b0 = loadu(bp);
    const vf b1 = loadu(bp + VW);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      acc[r][0] += ap[r] * b0;
      acc[r][1] += ap[r] * b1;
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    float* o = g.acc + (i0 + r) * g.n + j0;
    storeu(o, loadu(o) + acc[r][0]);
    storeu(o + VW, loadu(o + VW) + acc[r][1]);
  }
}

void gemmOuterDirect(const GemmOuterDirectArgs& g) {
  const int64_t full = g.m - g.m % MR;
  for (int64_t j0 = 0; j0 < g.n; j0 += NR)
    for (int64_t i0 = 0; i0 < full; i0 += MR) outerDirectTile<MR>(g, i0, j0);
  const int64_t i0 = full;
  for (int64_t j0 = 0; j0 < g.n && i0 < g.m; j0 += NR) {
    switch (g.m - i0) {
      case 5: outerDirectTile<5>(g, i0, j0); break;
      case 4: outerDirectTile<4>(g, i0, j0); break;
      case 3: outerDirectTile<3>(g, i0, j0); break;
      case 2: outerDirectTile<2>(g, i0, j0); break;
      default: outerDirectTile<1>(g, i0, j0); break;
    }
  }
}

}  // namespace

const IsaKernels kernels = {CAMREC_ISA_NAME, NR, MR, spmmRows, sddmmRows, tanhRange, expRange, expShiftedRows, columnSums, scatterAddRows, gatherScaled, scatterScaled, packItems, scoreTopK, gemmRows, gemmOuter, gemmOuterDirect, edgeMlpRows, edgeMlpGradRows};

}  // namespace CAMREC_ISA_NS
}  // namespace camrec
