// Row-wise Adam and Adagrad for the parameter server's shards and LocalParamStore (src/train/optimizer.ts,
// docs/paramserver.md). Every element is computed as the TypeScript loop computes it: the float32 state read
// into double, the same operations in the same order in double precision, no fused multiply-add, and each
// result rounded to float32 when stored. IEEE double arithmetic and square root are exact to the last bit, so
// the two give the same bits, and a run with the addon trains the same model as a run without it.
// Compiled for the target's baseline only (SSE2 on x86-64, NEON on aarch64), where the compiler may vectorize
// the inner loop over a row's columns but must not contract a·b + c.
#include <cmath>
#include <cstdint>

#include "kernels.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace camrec {

void adamRows(const AdamRowsArgs& a) {
  const double b1 = a.beta1, b2 = a.beta2, c1 = 1 - a.beta1, c2 = 1 - a.beta2;
  const double stepSize = a.stepSize, sqrtBc2 = a.sqrtBc2, eps = a.eps;
  const RowUpdate& u = a.rows;
  const int64_t dim = u.dim;
  for (int64_t r = 0; r < u.n; ++r) {
    const int64_t base = (u.ids ? u.ids[r] : r) * dim;
    float* __restrict p = u.p + base;
    float* __restrict m = a.m + base;
    float* __restrict v = a.v + base;
    const float* __restrict g = u.g + r * dim;
    for (int64_t j = 0; j < dim; ++j) {
      const double gj = g[j];
      const double mj = b1 * m[j] + c1 * gj;
      const double vj = b2 * v[j] + c2 * gj * gj;
      m[j] = static_cast<float>(mj);
      v[j] = static_cast<float>(vj);
      p[j] = static_cast<float>(static_cast<double>(p[j]) - (stepSize * mj) / (std::sqrt(vj) / sqrtBc2 + eps));
    }
  }
}

void adagradRows(const AdagradRowsArgs& a) {
  const double lr = a.lr, eps = a.eps;
  const RowUpdate& u = a.rows;
  const int64_t dim = u.dim;
  for (int64_t r = 0; r < u.n; ++r) {
    const int64_t base = (u.ids ? u.ids[r] : r) * dim;
    float* __restrict p = u.p + base;
    float* __restrict s = a.s + base;
    const float* __restrict g = u.g + r * dim;
    for (int64_t j = 0; j < dim; ++j) {
      const double gj = g[j];
      const double sj = static_cast<double>(s[j]) + gj * gj;
      s[j] = static_cast<float>(sj);
      p[j] = static_cast<float>(static_cast<double>(p[j]) - (lr * gj) / (std::sqrt(sj) + eps));
    }
  }
}

}  // namespace camrec
