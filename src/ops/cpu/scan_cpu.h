// The fused CPU selective scan's launch description and entry points, one set per instruction set
// (cpu_isa.h). Each entry point runs work items [item_begin, item_end) of `p` (scan_cpu_kernel.h
// says what an item is); the caller (selective_scan_cpu.cpp) spreads items over threads with
// at::parallel_for.
#pragma once

#include <cstdint>

#include "ops/scan_params.h"

namespace mmx::cpu {

/// One call of the CPU kernel: the entry's description (detail::ScanParams, make_scan_params)
/// plus the CPU plan and the outputs whose dtype or layout are the CPU kernel's own. All fp32.
struct ScanCpuParams : detail::ScanParams {
  // Plan (selective_scan_cpu.cpp). Saved states: ckpt is (batch, E, n_chunks, N), the state
  // before each chunk; the backward recomputes inside a chunk. dA_part, dD_part,
  // ddelta_bias_part are per batch element (parts = batch).
  int64_t chunk = 64;      ///< steps per chunk
  int64_t n_chunks = 1;    ///< ceil(L / chunk)
  int64_t fwd_splits = 1;  ///< the channel blocks of one (batch, group) split over this many items
  int64_t bwd_splits = 1;  ///< the same for the backward

  /// Forward output (batch, E, L); the caller converts it to u's dtype.
  float* out = nullptr;
  /// Backward: dout (batch, E, L) in; du, ddelta, dz (batch, E, L) and dB, dC
  /// (bwd_splits, batch, G, N, L) out, the caller summing dB, dC over splits.
  const float* dout = nullptr;
  float *du = nullptr, *ddelta = nullptr, *dz = nullptr, *dB = nullptr, *dC = nullptr;
};

#define MMX_DECLARE_SCAN_ISA(ns)                                                     \
  namespace ns {                                                                     \
  void scan_fwd_items(const ScanCpuParams& p, int64_t item_begin, int64_t item_end); \
  void scan_bwd_items(const ScanCpuParams& p, int64_t item_begin, int64_t item_end); \
  int scan_simd_width();                                                             \
  }
MMX_DECLARE_SCAN_ISA(avx512)
MMX_DECLARE_SCAN_ISA(avx2)
MMX_DECLARE_SCAN_ISA(scalar)
#undef MMX_DECLARE_SCAN_ISA

}  // namespace mmx::cpu
