// Plain C++ interface between the CUDA op registration (selective_scan_cuda.cpp, compiled by the
// host compiler with LibTorch) and the kernels (scan_*_cuda.cuh via scan_{fwd,bwd}_{f32,bf16,f16}.cu,
// compiled by nvcc without LibTorch). Pointers are raw device pointers of contiguous tensors.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/scan_params.h"

namespace mmx::cuda {

/// Steps between two saved states (the backward recomputes inside such a sub-chunk, in registers).
inline constexpr int kSubChunk = 8;

/// One selective-scan call on the GPU: the entry's description (detail::ScanParams, from
/// make_scan_params; sizes below 2^31 elements per tensor, which the kernels copy to 32-bit ints),
/// the launch plan (plan_scan_cuda) and the buffers only the CUDA kernels have. Saved states: ckpt
/// is (batch, E, n_sub, N), the state before every kSubChunk-th step; dA_part, dD_part and
/// ddelta_bias_part are per (batch, time chunk): parts = batch * n_chunks.
struct ScanCudaParams : mmx::detail::ScanParams {
  // Plan (plan_scan_cuda).
  /// The sizes as the kernels index with them: 32-bit ints (u and B have fewer than 2^31
  /// elements: scan_kernel_unsupported), narrowed once here so that the kernels read them from
  /// the parameter space like any other field.
  struct Dims32 {
    int batch = 0, E = 0, L = 0, N = 0, G = 1;
    int Eg = 0;  ///< channels per group, E / G
  } dims;
  int lanes = 1;     ///< P: threads per channel (the N states are split over them)
  int channels = 1;  ///< channels per thread block (block = channels x lanes threads)
  int tiles = 1;     ///< channel tiles per group, ceil(Eg / channels)
  int chunk = 1;     ///< steps per time chunk (a multiple of 32 when n_chunks > 1)
  int n_chunks = 1;  ///< chunks scanned in parallel (> 1: local pass + combine + main pass)
  int n_sub = 1;     ///< saved states per sequence, ceil(L / kSubChunk)

  /// Per-step data in `dtype`, (batch, E, L): the forward output, the backward's upstream
  /// gradient dout and its outputs du, ddelta, dz (dz null without z).
  void* out = nullptr;
  const void* dout = nullptr;
  void *du = nullptr, *ddelta = nullptr, *dz = nullptr;
  /// Backward: per-tile sums of dB (index 0) and dC (1), (batch, G, tiles, 2, N, L) fp32; the
  /// caller adds the tiles in a fixed order.
  float* dBC_part = nullptr;
  /// Time-chunk scratch when n_chunks > 1 (fp32): chunk_h (batch, E, n_chunks, N) local end
  /// states (forward) or local start gradients (backward); chunk_dsum (batch, E, n_chunks) sum of
  /// Delta; chunk_carry (batch, E, n_chunks, N) chunk start states (forward) or chunk end
  /// gradients (backward).
  float *chunk_h = nullptr, *chunk_dsum = nullptr, *chunk_carry = nullptr;
};

/// Fills dims, lanes, channels, tiles, chunk, n_chunks, n_sub from the shape (the regime heuristic;
/// docs/kernels/cuda_scan.md). `sm_count`: multiprocessors of the device; `chunk_override` > 0
/// forces that chunk length (rounded up to a multiple of 32; tests use it to cover the chunked
/// path on small shapes).
void plan_scan_cuda(ScanCudaParams& p, int sm_count, int chunk_override = 0);

/// Forward: out, last_state, and ckpt when p.ckpt is set. Returns the launch error, if any.
cudaError_t scan_fwd_cuda(const ScanCudaParams& p, cudaStream_t stream);
/// Backward: du, ddelta, dz, dBC_part, dA_part, dD_part, ddelta_bias_part, dh0 (needs p.ckpt).
cudaError_t scan_bwd_cuda(const ScanCudaParams& p, cudaStream_t stream);

}  // namespace mmx::cuda
