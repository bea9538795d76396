// The fused CPU selective scan compiled for scalar (flags set in src/CMakeLists.txt).
// The algorithm lives in scan_cpu_kernel.h; this file only fixes the instruction set.
#define MMX_ISA_SCALAR 1
#define MMX_ISA_NS scalar
#include "ops/cpu/scan_cpu_kernel.h"
