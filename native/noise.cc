// The per-entity noise of a training step (src/models/modules/noise.ts), drawn exactly as the TypeScript
// generator draws it: one Philox4x32-10 block at (seed, purpose; epoch, step, entity, block) seeds a xoshiro128**
// sequence for the entity's row, uniforms are (x + 0.5) / 2^32 in double, normals are Box–Muller pairs in double,
// and every value is rounded to float32 once, when stored. Integer arithmetic is exact, so the uniforms and the
// integers are the same bits as the TypeScript loop's; the normals go through the C library's log, cos and sin
// where the TypeScript loop uses V8's, which agree to the last bit of a double nearly always (a float32 rounding
// can differ only where two correctly rounded doubles straddle a float32 tie; test/native/noise.test.ts counts).
// Compiled for the target's baseline, without contracting a·b + c. With AVX2 on Linux, where glibc's vector math
// library (libmvec.so.1) loads, the normals' log, cos and sin run four at a time on it; its doubles may differ from
// the scalar functions' in their last bits, but rounded to float32 they matched the scalar path on every one of
// 8·10⁶ draws and on the first 14 training steps on baby (docs/benchmarks.md, session 7), so only a double that
// straddles a float32 tie can differ. It is opened at run time, so a C library without it (musl) loses nothing.
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace camrec {
namespace {

constexpr uint32_t kM0 = 0xd2511f53u;
constexpr uint32_t kM1 = 0xcd9e8d57u;
constexpr uint32_t kW0 = 0x9e3779b9u;
constexpr uint32_t kW1 = 0xbb67ae85u;
constexpr double kTwoPow32 = 4294967296.0;
constexpr double kTwoPi = 2 * 3.141592653589793;  // Math.PI's double, doubled (exact)

inline uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

// xoshiro128** seeded from one Philox block, as RowGenerator in noise.ts.
class RowGenerator {
 public:
  explicit RowGenerator(const NoiseAt& at) : at_(at) {}

  void seat(uint32_t entity, uint32_t block) {
    uint32_t x0 = at_.epoch, x1 = at_.step, x2 = entity, x3 = block;
    uint32_t key0 = at_.seed, key1 = at_.purposeKey;
    for (int round = 0; round < 10; ++round) {
      const uint64_t p0 = static_cast<uint64_t>(kM0) * x0;
      const uint64_t p1 = static_cast<uint64_t>(kM1) * x2;
      const uint32_t y0 = static_cast<uint32_t>(p1 >> 32) ^ x1 ^ key0;
      const uint32_t y2 = static_cast<uint32_t>(p0 >> 32) ^ x3 ^ key1;
      x1 = static_cast<uint32_t>(p1);
      x3 = static_cast<uint32_t>(p0);
      x0 = y0;
      x2 = y2;
      key0 += kW0;
      key1 += kW1;
    }
    s_[0] = x0;
    s_[1] = x1;
    s_[2] = x2;
    s_[3] = x3;
    if ((x0 | x1 | x2 | x3) == 0) s_[0] = 1;
  }

  uint32_t next() {
    const uint32_t result = rotl(s_[1] * 5u, 7) * 9u;
    const uint32_t t = s_[1] << 9;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 11);
    return result;
  }

  double open01() { return (static_cast<double>(next()) + 0.5) / kTwoPow32; }

 private:
  const NoiseAt& at_;
  uint32_t s_[4] = {0, 0, 0, 0};
};

// One Box–Muller pair from the uniforms (u1, u2) into o[0] and, unless last is set, o[1].
inline void boxMuller(double u1, double u2, float* o, bool last) {
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = kTwoPi * u2;
  o[0] = static_cast<float>(radius * std::cos(angle));
  if (!last) o[1] = static_cast<float>(radius * std::sin(angle));
}

#if defined(CAMREC_HAVE_AVX2_BUILD) && defined(__linux__)
#define CAMREC_HAVE_LIBMVEC 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
}  // namespace
}  // namespace camrec
#include <dlfcn.h>
#include <immintrin.h>
namespace camrec {
namespace {

// libmvec's AVX2 log, cos and sin of four doubles, or null where libmvec.so.1 does not load.
struct Libmvec {
  using Fn = __m256d (*)(__m256d);
  Fn log, cos, sin;
};

const Libmvec* libmvec() {
  static const Libmvec* const lib = []() -> const Libmvec* {
    void* h = dlopen("libmvec.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) return nullptr;
    static Libmvec l{reinterpret_cast<Libmvec::Fn>(dlsym(h, "_ZGVdN4v_log")), reinterpret_cast<Libmvec::Fn>(dlsym(h, "_ZGVdN4v_cos")),
                     reinterpret_cast<Libmvec::Fn>(dlsym(h, "_ZGVdN4v_sin"))};
    return l.log && l.cos && l.sin ? &l : nullptr;
  }();
  return lib;
}

// The pairs of one row, four at a time: radius = √(−2 log u1), angle = 2π·u2, as boxMuller; a last odd column
// and pairs beyond a multiple of four go through boxMuller.
void boxMullerRow(const Libmvec& v, const double* u1, const double* u2, int64_t dim, float* o) {
  const int64_t pairs = dim / 2;
  int64_t p = 0;
  for (; p + 4 <= pairs; p += 4) {
    const __m256d radius = _mm256_sqrt_pd(_mm256_mul_pd(_mm256_set1_pd(-2.0), v.log(_mm256_loadu_pd(u1 + p))));
    const __m256d angle = _mm256_mul_pd(_mm256_set1_pd(kTwoPi), _mm256_loadu_pd(u2 + p));
    const __m128 c = _mm256_cvtpd_ps(_mm256_mul_pd(radius, v.cos(angle)));
    const __m128 s = _mm256_cvtpd_ps(_mm256_mul_pd(radius, v.sin(angle)));
    _mm_storeu_ps(o + 2 * p, _mm_unpacklo_ps(c, s));
    _mm_storeu_ps(o + 2 * p + 4, _mm_unpackhi_ps(c, s));
  }
  for (; 2 * p < dim; ++p) boxMuller(u1[p], u2[p], o + 2 * p, 2 * p + 1 == dim);
}
#pragma GCC pop_options
#endif

}  // namespace

void normalRows(const NoiseAt& at, int64_t rowStart, int64_t rowEnd, int64_t dim, float* out, bool vector) {
  RowGenerator g(at);
#if defined(CAMREC_HAVE_LIBMVEC)
  const Libmvec* v = vector ? libmvec() : nullptr;
  if (v != nullptr) {
    std::vector<double> u((dim + 1) / 2 * 2);
    const int64_t half = (dim + 1) / 2;
    for (int64_t r = rowStart; r < rowEnd; ++r) {
      g.seat(static_cast<uint32_t>(at.entityOffset + r), 0);
      for (int64_t p = 0; p < half; ++p) {
        u[p] = g.open01();
        u[half + p] = g.open01();
      }
      boxMullerRow(*v, u.data(), u.data() + half, dim, out + r * dim);
    }
    return;
  }
#endif
  (void)vector;
  for (int64_t r = rowStart; r < rowEnd; ++r) {
    g.seat(static_cast<uint32_t>(at.entityOffset + r), 0);
    float* o = out + r * dim;
    for (int64_t j = 0; j < dim; j += 2) {
      const double u1 = g.open01();
      boxMuller(u1, g.open01(), o + j, j + 1 == dim);
    }
  }
}

void uniformRows(const NoiseAt& at, int64_t rowStart, int64_t rowEnd, int64_t count, float* out) {
  RowGenerator g(at);
  for (int64_t r = rowStart; r < rowEnd; ++r) {
    g.seat(static_cast<uint32_t>(at.entityOffset + r), 0);
    for (int64_t j = 0; j < count; ++j) out[r * count + j] = static_cast<float>(g.open01());
  }
}

void intPerRow(const NoiseAt& at, int64_t rowStart, int64_t rowEnd, int64_t n, int32_t* out) {
  RowGenerator g(at);
  for (int64_t r = rowStart; r < rowEnd; ++r) {
    g.seat(static_cast<uint32_t>(at.entityOffset + r), 1);
    const double x = std::floor(g.open01() * static_cast<double>(n));
    out[r] = static_cast<int32_t>(x < static_cast<double>(n - 1) ? x : static_cast<double>(n - 1));
  }
}

}  // namespace camrec
