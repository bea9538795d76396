// Instruction set of the fused CPU selective scan: what this CPU supports, what the kernel uses
// (lowered by MMX_CPU_ISA or by tests and benchmarks that compare the paths in one process).
// The kernel is compiled once per set (scan_cpu_{avx512,avx2,scalar}.cpp); selective_scan_cpu.cpp
// picks the entry points of active_cpu_isa() at each call.
#pragma once

#include <string>

namespace mmx::cpu {

/// Instruction set of the CPU kernel, in increasing order.
enum class CpuIsa { kScalar, kAvx2, kAvx512 };

/// The ISA the kernel uses: the best the CPU supports, lowered by the environment variable
/// MMX_CPU_ISA=scalar|avx2|avx512 (read once; a request above what the CPU supports is clamped,
/// an unknown value is ignored with a warning).
CpuIsa active_cpu_isa();
/// Best instruction set this CPU supports (AVX2 needs FMA; AVX-512 needs F and DQ).
CpuIsa best_cpu_isa();
/// Forces the kernel's instruction set (clamped to what the CPU supports); for tests and
/// benchmarks that compare the paths in one process.
void set_cpu_isa(CpuIsa isa);
/// "avx512", "avx2" or "scalar".
std::string cpu_isa_name(CpuIsa isa);

}  // namespace mmx::cpu
