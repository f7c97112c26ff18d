// The kernels for any CPU: the baseline ISA of the target (SSE2 on x86-64, NEON on aarch64).
#include <cstdint>
#include <cstring>

#include "kernels.h"

#define CAMREC_ISA_NS generic
#define CAMREC_ISA_NAME "generic"
#define CAMREC_VW 4
#include "kernels.inl"
