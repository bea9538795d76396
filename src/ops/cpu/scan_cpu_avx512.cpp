// The fused CPU selective scan compiled for avx512 (flags set in src/CMakeLists.txt).
// The algorithm lives in scan_cpu_kernel.h; this file only fixes the instruction set.
#define MMX_ISA_AVX512 1
#define MMX_ISA_NS avx512
#include "ops/cpu/scan_cpu_kernel.h"
