// Kernels of the optional native addon (DESIGN.md §4): sparse x dense propagation, full-ranking
// scoring fused with a per-user top-k, and dense products of tall, skinny matrices. Each kernel is compiled once per instruction set
// (kernels_generic.cc, kernels_avx2.cc) from kernels.inl; camrec_native.cc picks one at run time.
#pragma once

#include <cstdint>

namespace camrec {

// out[r, :] = sum_j A[r, j] * x[j, :] for r in [rowStart, rowEnd); A is CSR, binary when values is null.
struct SpmmArgs {
  const int32_t* indptr;
  const int32_t* indices;
  const float* values;  // nullptr for a binary matrix
  const float* x;
  int64_t dim;
  float* out;  // indexed by absolute row r
};

// out[p] = <a[row(p), :], b[indices[p], :]> for every stored entry p of rows [rowStart, rowEnd) of a CSR
// pattern (the sampled dense-dense product); a and b row-major with `dim` columns, out indexed by entry.
struct SddmmArgs {
  const int32_t* indptr;
  const int32_t* indices;
  const float* a;
  const float* b;
  int64_t dim;
  float* out;
};

// For each listed user, dot products with every item, the user's excluded items removed, the best k
// by descending score (ties: lower item id first), sorted.
struct ScoreArgs {
  const float* userEmb;
  const int32_t* users;
  const float* packedItems;  // packItems' layout for the instruction set in use
  int64_t nItems;
  int64_t dim;
  const int32_t* maskIndptr;  // CSR over all users of userEmb
  const int32_t* maskIndices;
  int64_t k;
  int32_t* outItems;  // [listed users, k], -1 past the user's last rankable item
  float* outScores;   // [listed users, k], -Infinity past the user's last rankable item
};

// A ranked (score, item) pair as one integer: larger key = better (higher score, then lower item).
// -0 is keyed as +0, so that equal scores always tie; NaN must not be keyed.
inline uint64_t rankKey(float score, int32_t item) {
  float s = score + 0.0f;
  uint32_t bits;
  __builtin_memcpy(&bits, &s, sizeof bits);
  bits ^= (bits >> 31) != 0 ? 0xffffffffu : 0x80000000u;
  return static_cast<uint64_t>(bits) << 32 | (0xffffffffu - static_cast<uint32_t>(item));
}

inline float keyScore(uint64_t key) {
  uint32_t bits = static_cast<uint32_t>(key >> 32);
  bits ^= (bits >> 31) != 0 ? 0x80000000u : 0xffffffffu;
  float s;
  __builtin_memcpy(&s, &bits, sizeof s);
  return s;
}

inline int32_t keyItem(uint64_t key) { return static_cast<int32_t>(0xffffffffu - static_cast<uint32_t>(key)); }

// One thread's working memory for scoreTopK; stride = items rounded up to whole panels.
struct ScoreScratch {
  float* userTile;    // usersPerTile * dim
  float* rows;        // usersPerTile * stride, 64-byte aligned
  float* groupMax;    // stride
  uint64_t* cand;     // stride, rankKey
};

// The k-th largest of values[0 .. n) (reorders them); -Infinity when n < k. No NaN allowed.
float kthLargest(float* values, int64_t n, int64_t k);

// Writes the best k of the c candidates (no NaN) sorted by descending score then ascending item,
// padded with (-Infinity, -1); reorders cand.
void writeTopK(uint64_t* cand, int64_t c, int64_t k, float* outScores, int32_t* outItems);

// Dense products for the tall, skinny matrices of the models (DESIGN.md §4), on panels packed by the caller:
// a panel holds `panelWidth` columns of a matrix, `depth` rows of them, row after row ([depth][panelWidth]),
// zero-padded past the last column.
//
// gemmRows: rows [rowStart, rowEnd) of c = a · b, a row-major [m, k], b packed into ceil(n / panelWidth)
// panels of depth k; c row-major [m, n].
struct GemmRowsArgs {
  const float* a;
  int64_t k;
  const float* bPanels;
  int64_t n;
  float* c;
};

// gemmOuter: acc += Aᵀ·B over `depth` rows, A packed into mTiles panels of width rowsPerTile (the first
// dimension of acc) and B into nPanels panels of width panelWidth; acc is row-major
// [mTiles * rowsPerTile, nPanels * panelWidth].
struct GemmOuterArgs {
  const float* aPanels;
  int64_t mTiles;
  const float* bPanels;
  int64_t nPanels;
  int64_t depth;
  float* acc;
};

// gemmOuterDirect: acc += Aᵀ·B over rows [d0, d0 + depth) of A [k, m] and B [k, n], both row-major and read in
// place (no packing); n must be a multiple of the panel width. acc is row-major [m, n]. The same register tiles
// and the same order of sums as gemmOuter, so the same bits.
struct GemmOuterDirectArgs {
  const float* a;
  int64_t m;
  const float* b;
  int64_t n;
  int64_t d0;
  int64_t depth;
  float* acc;
};

// CaMRec's edge-mask MLP over a user-major edge list (src/compute/kernels/edge-mlp.ts): for edge e of user u,
// v_e = (a[u] + bias) + b[items[e]], ω_e = outBias + Σ_j wo[j]·ReLU(v_e[j]); a [U, h] and b [I, h] row-major.
struct EdgeMlpArgs {
  const int32_t* indptr;  // edges of user u: [indptr[u], indptr[u + 1])
  const int32_t* items;
  const float* a;
  const float* b;
  const float* bias;
  const float* wo;
  int64_t h;
};

// The backward's outputs for users [u0, u1): ga rows of those users (written, not added), gb and gOut added to
// (the caller's per-thread partials); t_e = g_e·wo ⊙ [v_e > 0], ga[u] = Σ_e t_e, gb[i] += t_e, gOut += g_e·ReLU(v_e).
struct EdgeMlpGradArgs {
  EdgeMlpArgs mlp;
  const float* g;
  float* ga;
  float* gb;
  float* gOut;
};

// Row-wise optimizers (optimizer.cc): rows ids[0..n) of [rows, dim] tables (rows 0..n when ids is null),
// g holding one row per id, in double precision as src/train/optimizer.ts computes them.
struct RowUpdate {
  float* p;
  const int32_t* ids;
  const float* g;
  int64_t n;
  int64_t dim;
};

struct AdamRowsArgs {
  RowUpdate rows;
  float* m;
  float* v;
  double beta1, beta2, stepSize, sqrtBc2, eps;
};

struct AdagradRowsArgs {
  RowUpdate rows;
  float* s;
  double lr, eps;
};

void adamRows(const AdamRowsArgs& a);
void adagradRows(const AdagradRowsArgs& a);

// 16-bit row values on the parameter server's wire (wire.cc): narrowRows writes u16 row k from f32 row rows[k]
// (row k when rows is null), widenRows writes f32 row rows[k] from u16 row k; n rows of dim values; kind 1 is
// bfloat16, 2 IEEE binary16. float32 values are handled as their bits.
struct WireRowsArgs {
  uint32_t* f32;
  uint16_t* u16;
  const int32_t* rows;
  int64_t n;
  int64_t dim;
  int32_t kind;
};

void narrowRows(const WireRowsArgs& a);
void widenRows(const WireRowsArgs& a);
// Elementwise steps of the fused denoiser (fused.cc), each value the float32 result of the tfjs ops it replaces.
// ht[r] = h0[r]·signal[r] + noise[r]·noiseScale[r] (ht[r] = h0[r]·signal[r] when noise is null).
void noisyRows(const float* h0, const float* noise, const float* signal, const float* noiseScale, int64_t n, int64_t d,
               float* ht);
// pre[r] = (pre[r] + condPart[r]) + (stepEmb[steps[r]] + bias), rows of h, in place.
void denoiserPreActivation(float* pre, const float* condPart, const float* stepEmb, const int32_t* steps,
                           const float* bias, int64_t n, int64_t h);
// est[r] += outBias; returns Σ (target − est)² over every entry, summed in double.
double addBiasSquaredError(float* est, const float* outBias, const float* target, int64_t n, int64_t d);
// out = dEst + scale·(est − target), `size` entries.
void squaredErrorGradient(const float* dEst, float scale, const float* est, const float* target, int64_t size,
                          float* out);
// g = g·(1 − act²) in place (tanh's gradient from its output).
void tanhGradient(float* g, const float* act, int64_t size);
// x[r] = x[r]·scale[r], rows of d, in place.
void scaleRows(float* x, const float* scale, int64_t n, int64_t d);

// The binary concrete gate of CaMRec's edge mask: rho = σ((ω + log u − log(1 − u))/τ) (the logistic noise in
// double from float u, rounded once, as the TypeScript loop computes it; uniforms null: σ(ω/τ)), and the gradient
// out = (dy·ρ(1 − ρ))/τ.
void concreteGate(const float* logits, const float* uniforms, float temperature, int64_t n, float* rho);
void concreteGateGradient(const float* dy, const float* rho, float temperature, int64_t n, float* out);

// out[r] = ((0 + x[r, 0]) + x[r, 1]) + … for x [rows, cols]: the float32 sums of tfjs-wasm's Sum over the innermost
// axis, in its order (several rows at a time).
void rowSums(const float* x, int64_t rows, int64_t cols, float* out);

// The layer mean of a propagation (LightGCN eq. 8) and its gradient, as the tfjs ops they replace compute them:
// out = (((l_0 + l_1) + l_2) + …)/divisor (AddN's chain, then RealDiv; out may be one of the layers), and
// out = (dLayer + dMean/divisor) + out, the gradient the tape accumulates into a layer that the mean and one more
// op read (dLayer null: dMean/divisor + out; accumulate false: without the trailing + out).
void layerMean(const float* const* layers, int64_t count, float divisor, int64_t size, float* out);
void layerGradient(const float* dLayer, const float* dMean, float divisor, bool accumulate, int64_t size, float* out);

// A step's noise coordinates (noise.cc, src/models/modules/noise.ts): row r is entity entityOffset + r (mod 2^32).
struct NoiseAt {
  uint32_t seed;
  uint32_t purposeKey;
  uint32_t epoch;
  uint32_t step;
  int64_t entityOffset;
};

// Rows [rowStart, rowEnd) of [rows, dim] standard normals, [rows, count] uniforms in (0, 1), and one integer in
// [0, n) per row, each the bits of the TypeScript generator's (normals: see noise.cc).
// `vector`: the AVX2 path on libmvec where it loads (noise.cc), else the scalar one.
void normalRows(const NoiseAt& at, int64_t rowStart, int64_t rowEnd, int64_t dim, float* out, bool vector);
void uniformRows(const NoiseAt& at, int64_t rowStart, int64_t rowEnd, int64_t count, float* out);
void intPerRow(const NoiseAt& at, int64_t rowStart, int64_t rowEnd, int64_t n, int32_t* out);

struct IsaKernels {
  const char* name;
  int64_t panelWidth;    // items per packed panel
  int64_t usersPerTile;  // users scored together
  void (*spmmRows)(const SpmmArgs& a, int64_t rowStart, int64_t rowEnd);
  void (*sddmmRows)(const SddmmArgs& a, int64_t rowStart, int64_t rowEnd);
  // out[i] = tanh(x[i]) for i in [0, n), within a few float32 ulp (a rational approximation, as Eigen's).
  void (*tanhRange)(const float* x, float* out, int64_t n);
  // out[i] = exp(x[i]) for i in [0, n), within 2 float32 ulp (Cephes' expf); out of [-87, 88] as std::exp.
  void (*expRange)(const float* x, float* out, int64_t n);
  // Rows [0, rows) of z [rows, cols]: max_r = max_s scale·z[r, s], z[r, s] = exp(scale·z[r, s] − max_r) in place,
  // sums_r = Σ_s z[r, s] (summed in double). The softmax numerators of scaled scores.
  void (*expShiftedRows)(float* z, int64_t rows, int64_t cols, float scale, float* max, float* sums);
  // out[j] = scale · Σ_r x[r, j] for x [rows, cols], summed in double down each column, rounded once.
  void (*columnSums)(const float* x, int64_t rows, int64_t cols, double scale, float* out);
  // out[ids[i], :] += x[i, :] for i in [0, n) with ids[i] ≥ 0 (negative ids are dropped), rows of `inner` floats.
  void (*scatterAddRows)(const float* x, const int32_t* ids, int64_t n, int64_t inner, float* out);
  // Per-entry gates: out[p] = scale[p] · values[ids[p]] (gather) or out[ids[p]] += scale[p] · values[p] (scatter,
  // in order), p in [0, n).
  void (*gatherScaled)(const float* values, const int32_t* ids, const float* scale, int64_t n, float* out);
  void (*scatterScaled)(const float* values, const int32_t* ids, const float* scale, int64_t n, float* out);
  // Packs items into panels of panelWidth items, dimension-major inside a panel, zero-padded.
  void (*packItems)(const float* itemEmb, int64_t nItems, int64_t dim, float* packed);
  // Scores listed users [first, last).
  void (*scoreTopK)(const ScoreArgs& a, int64_t first, int64_t last, const ScoreScratch& s);
  void (*gemmRows)(const GemmRowsArgs& a, int64_t rowStart, int64_t rowEnd);
  void (*gemmOuter)(const GemmOuterArgs& a);
  void (*gemmOuterDirect)(const GemmOuterDirectArgs& a);
  // ω for the edges of users [u0, u1) (omega indexed by edge); `row` is scratch of h floats.
  void (*edgeMlpRows)(const EdgeMlpArgs& a, float outBias, int64_t u0, int64_t u1, float* omega, float* row);
  void (*edgeMlpGradRows)(const EdgeMlpGradArgs& a, int64_t u0, int64_t u1, float* row);
};

namespace generic {
extern const IsaKernels kernels;
}
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CAMREC_HAVE_AVX2_BUILD 1
namespace avx2 {
extern const IsaKernels kernels;
}
#endif

}  // namespace camrec
