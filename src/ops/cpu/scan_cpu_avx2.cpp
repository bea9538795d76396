// The fused CPU selective scan compiled for avx2 (flags set in src/CMakeLists.txt).
// The algorithm lives in scan_cpu_kernel.h; this file only fixes the instruction set.
#define MMX_ISA_AVX2 1
#define MMX_ISA_NS avx2
#include "ops/cpu/scan_cpu_kernel.h"
