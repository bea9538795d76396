// Entry points of the fused CPU selective scan, one set per instruction set. Each function runs
// work items [item_begin, item_end) of `p` (see scan_cpu_kernel.h for what an item is); the caller
// (selective_scan_cpu.cpp) spreads items over threads with at::parallel_for.
#pragma once

#include <cstdint>
#include <string>

#include "ops/scan_params.h"

namespace mmx::cpu {

#define MMX_DECLARE_SCAN_ISA(ns)                                                         \
  namespace ns {                                                                         \
  void scan_fwd_items(const detail::ScanParams& p, int64_t item_begin, int64_t item_end); \
  void scan_bwd_items(const detail::ScanParams& p, int64_t item_begin, int64_t item_end); \
  int scan_simd_width();                                                                 \
  }
MMX_DECLARE_SCAN_ISA(avx512)
MMX_DECLARE_SCAN_ISA(avx2)
MMX_DECLARE_SCAN_ISA(scalar)
#undef MMX_DECLARE_SCAN_ISA

/// Instruction set of the CPU kernel.
enum class CpuIsa { kScalar, kAvx2, kAvx512 };

/// The ISA the kernel uses: the best the CPU supports, lowered by the environment variable
/// MMX_CPU_ISA=scalar|avx2|avx512 (a request above what the CPU supports is clamped).
CpuIsa active_cpu_isa();
/// Best instruction set this CPU supports.
CpuIsa best_cpu_isa();
/// Forces the kernel's instruction set (clamped to what the CPU supports); for tests and
/// benchmarks that compare the paths in one process.
void set_cpu_isa(CpuIsa isa);
/// "avx512", "avx2" or "scalar".
std::string cpu_isa_name(CpuIsa isa);

}  // namespace mmx::cpu
