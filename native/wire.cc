// 16-bit row values for the parameter server's wire (src/paramserver/encoding.ts, docs/paramserver.md
// "Reduced-precision wire"): float32 rows narrowed to bfloat16 or IEEE binary16, round to nearest even, and
// widened back, exactly. Integer arithmetic on the float32 bits, the same steps as the TypeScript reference, so
// both give the same bits (test/native/wire.test.ts); branch-free so that the compiler vectorizes the loops.
// Compiled for the target's baseline only (SSE2 on x86-64, NEON on aarch64): memory-bound either way.
#include <cstdint>
#include <cstring>

#include "kernels.h"

namespace camrec {
namespace {

inline uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float floatOf(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// An all-ones mask when c holds, else zero: selects written as bit operations, which the compiler vectorizes.
inline uint32_t maskIf(bool c) { return 0u - static_cast<uint32_t>(c); }

inline uint32_t pick(uint32_t mask, uint32_t yes, uint32_t no) { return (yes & mask) | (no & ~mask); }

// Round to nearest even; NaN stays NaN with the quiet bit set.
inline uint16_t bf16FromBits(uint32_t x) {
  const uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
  const uint32_t nan = (x >> 16) | 0x40u;
  return static_cast<uint16_t>(pick(maskIf((x & 0x7fffffffu) > 0x7f800000u), nan, rounded));
}

// Round to nearest even, with subnormals: at least 65520 in magnitude → ±inf, NaN → quiet NaN, at most 2^-25 → ±0.
inline uint16_t f16FromBits(uint32_t x) {
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t a = x & 0x7fffffffu;
  const uint32_t isNormal = maskIf(a >= 0x38800000u);
  // Normal: rebias the exponent and round away 13 mantissa bits.
  const uint32_t v = a - 0x38000000u;
  const uint32_t normal = (v + 0xfffu + ((v >> 13) & 1u)) >> 13;
  // Below 2^-14: 0.5 + |x| in float32 rounds |x| to a multiple of 2^-24 (nearest even), the subnormal's units.
  const uint32_t subnormal = bitsOf(floatOf(a & ~isNormal) + 0.5f) - 0x3f000000u;
  const uint32_t overflow = 0x7c00u | (maskIf(a > 0x7f800000u) & 0x200u);
  return static_cast<uint16_t>(sign | pick(maskIf(a >= 0x477ff000u), overflow, pick(isNormal, normal, subnormal)));
}

// binary16 bits → float32, exactly (NaN payloads kept).
inline uint32_t bitsFromF16(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t shifted = static_cast<uint32_t>(h & 0x7fffu) << 13;
  const uint32_t e = shifted & 0x0f800000u;
  const uint32_t normal = shifted + 0x38000000u;   // exponent rebiased by 127 − 15
  const uint32_t special = shifted + 0x70000000u;  // infinity and NaN: exponent 255
  // A subnormal (or zero) m · 2^-24: the bits of 2^-14 · (1 + m/1024) less 2^-14, exact in float32.
  const uint32_t subnormal = bitsOf(floatOf(normal + 0x00800000u) - floatOf(0x38800000u));
  return sign | pick(maskIf(e == 0), subnormal, pick(maskIf(e == 0x0f800000u), special, normal));
}

template <class Narrow>
void narrowLoop(const WireRowsArgs& a, Narrow narrow) {
  for (int64_t k = 0; k < a.n; ++k) {
    const uint32_t* __restrict from = a.f32 + (a.rows ? a.rows[k] : k) * a.dim;
    uint16_t* __restrict to = a.u16 + k * a.dim;
    for (int64_t j = 0; j < a.dim; ++j) to[j] = narrow(from[j]);
  }
}

}  // namespace

void narrowRows(const WireRowsArgs& a) {
  if (a.kind == 1) narrowLoop(a, bf16FromBits);
  else narrowLoop(a, f16FromBits);
}

void widenRows(const WireRowsArgs& a) {
  for (int64_t k = 0; k < a.n; ++k) {
    const uint16_t* __restrict from = a.u16 + k * a.dim;
    uint32_t* __restrict to = a.f32 + (a.rows ? a.rows[k] : k) * a.dim;
    if (a.kind == 1) {
      for (int64_t j = 0; j < a.dim; ++j) to[j] = static_cast<uint32_t>(from[j]) << 16;
    } else {
      for (int64_t j = 0; j < a.dim; ++j) to[j] = bitsFromF16(from[j]);
    }
  }
}

}  // namespace camrec
