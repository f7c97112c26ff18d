// The scalar end of scoreTopK's selection, shared by every instruction set (kernels.h).
#include <algorithm>
#include <cstdint>
#include <functional>

#include "kernels.h"

namespace camrec {

float kthLargest(float* values, int64_t n, int64_t k) {
  if (n < k) return -__builtin_inff();
  std::nth_element(values, values + k - 1, values + n, std::greater<float>());
  return values[k - 1];
}

void writeTopK(uint64_t* cand, int64_t c, int64_t k, float* outScores, int32_t* outItems) {
  const int64_t kept = std::min(c, k);
  if (c > k) std::nth_element(cand, cand + k - 1, cand + c, std::greater<uint64_t>());
  std::sort(cand, cand + kept, std::greater<uint64_t>());
  for (int64_t j = 0; j < kept; ++j) {
    outScores[j] = keyScore(cand[j]);
    outItems[j] = keyItem(cand[j]);
  }
  std::fill(outScores + kept, outScores + k, -__builtin_inff());
  std::fill(outItems + kept, outItems + k, -1);
}

}  // namespace camrec
