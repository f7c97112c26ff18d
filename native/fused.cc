// Elementwise steps of fused ops (camrec_native.cc: the diffusion denoiser, the layer mean of a propagation),
// written so that each value is the
// float32 result of the same operations, in the same order, as the tfjs ops they replace: products and sums
// rounded one at a time, no contraction into fused multiply-adds. Compiled for the target's baseline; the
// compiler may vectorize the loops.
#include <cmath>
#include <cstdint>

#include "kernels.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace camrec {

void noisyRows(const float* h0, const float* noise, const float* signal, const float* noiseScale, int64_t n, int64_t d,
               float* ht) {
  for (int64_t r = 0; r < n; ++r) {
    const float a = signal[r];
    const float* x = h0 + r * d;
    float* o = ht + r * d;
    if (noise == nullptr) {
      for (int64_t k = 0; k < d; ++k) o[k] = x[k] * a;
      continue;
    }
    const float b = noiseScale[r];
    const float* e = noise + r * d;
    for (int64_t k = 0; k < d; ++k) o[k] = x[k] * a + e[k] * b;
  }
}

void denoiserPreActivation(float* pre, const float* condPart, const float* stepEmb, const int32_t* steps,
                           const float* bias, int64_t n, int64_t h) {
  for (int64_t r = 0; r < n; ++r) {
    float* p = pre + r * h;
    const float* c = condPart + r * h;
    const float* e = stepEmb + static_cast<int64_t>(steps[r]) * h;
    for (int64_t j = 0; j < h; ++j) p[j] = (p[j] + c[j]) + (e[j] + bias[j]);
  }
}

double addBiasSquaredError(float* est, const float* outBias, const float* target, int64_t n, int64_t d) {
  double total = 0;
  for (int64_t r = 0; r < n; ++r) {
    float* o = est + r * d;
    const float* t = target + r * d;
    for (int64_t k = 0; k < d; ++k) {
      o[k] = o[k] + outBias[k];
      const float diff = t[k] - o[k];
      total += static_cast<double>(diff * diff);
    }
  }
  return total;
}

void squaredErrorGradient(const float* dEst, float scale, const float* est, const float* target, int64_t size,
                          float* out) {
  for (int64_t i = 0; i < size; ++i) out[i] = dEst[i] + scale * (est[i] - target[i]);
}

void tanhGradient(float* g, const float* act, int64_t size) {
  for (int64_t i = 0; i < size; ++i) g[i] = g[i] * (1.0f - act[i] * act[i]);
}

void scaleRows(float* x, const float* scale, int64_t n, int64_t d) {
  for (int64_t r = 0; r < n; ++r)
    for (int64_t k = 0; k < d; ++k) x[r * d + k] = x[r * d + k] * scale[r];
}

void concreteGate(const float* logits, const float* uniforms, float temperature, int64_t n, float* rho) {
  for (int64_t e = 0; e < n; ++e) {
    float x = logits[e];
    if (uniforms != nullptr) {
      const double u = uniforms[e];
      x = x + static_cast<float>(std::log(u) - std::log(1 - u));
    }
    x = x / temperature;
    rho[e] = 1.0f / (1.0f + std::exp(-x));
  }
}

void concreteGateGradient(const float* dy, const float* rho, float temperature, int64_t n, float* out) {
  for (int64_t e = 0; e < n; ++e) out[e] = (dy[e] * (rho[e] * (1.0f - rho[e]))) / temperature;
}

void rowSums(const float* x, int64_t rows, int64_t cols, float* out) {
  constexpr int64_t kBlock = 8;  // rows summed side by side: independent chains, each in column order
  int64_t r = 0;
  for (; r + kBlock <= rows; r += kBlock) {
    float s[kBlock] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t k = 0; k < kBlock; ++k) s[k] = s[k] + x[(r + k) * cols + j];
    for (int64_t k = 0; k < kBlock; ++k) out[r + k] = s[k];
  }
  for (; r < rows; ++r) {
    float s = 0;
    for (int64_t j = 0; j < cols; ++j) s = s + x[r * cols + j];
    out[r] = s;
  }
}

void layerMean(const float* const* layers, int64_t count, float divisor, int64_t size, float* out) {
  for (int64_t i = 0; i < size; ++i) {
    float s = layers[0][i];
    for (int64_t k = 1; k < count; ++k) s = s + layers[k][i];
    out[i] = s / divisor;
  }
}

void layerGradient(const float* dLayer, const float* dMean, float divisor, bool accumulate, int64_t size, float* out) {
  for (int64_t i = 0; i < size; ++i) {
    float g = dMean[i] / divisor;
    if (dLayer != nullptr) g = dLayer[i] + g;
    out[i] = accumulate ? g + out[i] : g;
  }
}

}  // namespace camrec
