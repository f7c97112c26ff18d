// The kernels for x86-64 CPUs with AVX2 and FMA (x86-64-v3), chosen at run time when the CPU has them,
// so one build runs correctly on any x86-64 and fast on most.
#include <cstdint>
#include <cstring>

#include "kernels.h"

#if defined(CAMREC_HAVE_AVX2_BUILD)
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define CAMREC_ISA_NS avx2
#define CAMREC_ISA_NAME "avx2"
#define CAMREC_ISA_AVX2 1
#define CAMREC_VW 8
#include "kernels.inl"
#pragma GCC pop_options
#endif
