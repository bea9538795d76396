// Entry points of the fused CPU selective scan, one set per instruction set (cpu_isa.h). Each
// function runs work items [item_begin, item_end) of `p` (see scan_cpu_kernel.h for what an item
// is); the caller (selective_scan_cpu.cpp) spreads items over threads with at::parallel_for.
#pragma once

#include <cstdint>

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

}  // namespace mmx::cpu
