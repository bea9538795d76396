// Plain C++ interface between the CUDA op registration (selective_scan_cuda.cpp, compiled by the
// host compiler with LibTorch) and the kernels (scan_*_cuda.cuh via scan_{fwd,bwd}_{f32,bf16,f16}.cu, compiled by
// nvcc without LibTorch). Pointers are raw device pointers of validated, contiguous tensors.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mmx::cuda {

/// Storage type of u, delta, z, B, C, out, dout, du, ddelta, dz (compute is always fp32).
enum class IoType : int { kFloat32 = 0, kBFloat16 = 1, kFloat16 = 2 };

/// Steps between two saved states (the backward recomputes inside such a sub-chunk, in registers).
inline constexpr int kSubChunk = 8;

/// One selective-scan call on the GPU. Shapes as in mmx/ops/selective_scan.h.
struct ScanCudaParams {
  int batch = 0, E = 0, L = 0, N = 0, G = 1;
  int Eg = 0;        ///< channels per group, E / G
  int lanes = 1;     ///< P: threads per channel (the N states are split over them)
  int channels = 1;  ///< channels per thread block (block = channels x lanes threads)
  int tiles = 1;     ///< channel tiles per group, ceil(Eg / channels)
  int chunk = 1;     ///< steps per time chunk (a multiple of 32 when n_chunks > 1)
  int n_chunks = 1;  ///< chunks scanned in parallel (> 1: local pass + combine + main pass)
  int n_sub = 1;     ///< saved states per sequence, ceil(L / kSubChunk)
  IoType io = IoType::kFloat32;
  bool softplus = false, reverse = false;

  // Inputs. u, delta, z: (batch, E, L); B, C: (batch, G, N, L) in `io`; A: (E, N); D,
  // delta_bias: (E); h0: (batch, E, N) fp32. Optional ones are null when absent.
  const void* u = nullptr;
  const void* delta = nullptr;
  const void* z = nullptr;
  const void* B = nullptr;
  const void* C = nullptr;
  const float* A = nullptr;
  const float* D = nullptr;
  const float* delta_bias = nullptr;
  const float* h0 = nullptr;

  // Forward outputs: out (batch, E, L) in `io`; last_state (batch, E, N) fp32;
  // ckpt (batch, E, n_sub, N) fp32 = state before each sub-chunk (null: not saved).
  void* out = nullptr;
  float* last_state = nullptr;
  float* ckpt = nullptr;

  // Per-chunk scratch when n_chunks > 1 (fp32): chunk_h (batch, E, n_chunks, N) local end states
  // (forward) or local start gradients (backward); chunk_dsum (batch, E, n_chunks) sum of Delta;
  // chunk_carry (batch, E, n_chunks, N) chunk start states (forward) or chunk end gradients
  // (backward).
  float* chunk_h = nullptr;
  float* chunk_dsum = nullptr;
  float* chunk_carry = nullptr;

  // Backward inputs: dout (batch, E, L) in `io`, dlast (batch, E, N) fp32 or null.
  const void* dout = nullptr;
  const float* dlast = nullptr;
  // Backward outputs: du, ddelta, dz (batch, E, L) in `io`; dBC_part (batch, G, tiles, 2, N, L)
  // fp32 per-tile sums of dB (index 0) and dC (1); dA_part (batch, n_chunks, E, N), dD_part and
  // dbias_part (batch, n_chunks, E) fp32; dh0 (batch, E, N) fp32 or null. The caller sums the
  // partial results in a fixed order.
  void* du = nullptr;
  void* ddelta = nullptr;
  void* dz = nullptr;
  float* dBC_part = nullptr;
  float* dA_part = nullptr;
  float* dD_part = nullptr;
  float* dbias_part = nullptr;
  float* dh0 = nullptr;
};

/// Fills lanes, channels, tiles, chunk, n_chunks, n_sub from the shape (the regime heuristic;
/// docs/kernels/cuda_scan.md). `sm_count`: multiprocessors of the device; `chunk_override` > 0
/// forces that chunk length (rounded up to a multiple of 32; tests use it to cover the chunked
/// path on small shapes).
void plan_scan_cuda(ScanCudaParams& p, int sm_count, int chunk_override = 0);

/// Forward: out, last_state, and ckpt when p.ckpt is set. Returns the launch error, if any.
cudaError_t scan_fwd_cuda(const ScanCudaParams& p, cudaStream_t stream);
/// Backward: du, ddelta, dz, dBC_part, dA_part, dD_part, dbias_part, dh0 (needs p.ckpt).
cudaError_t scan_bwd_cuda(const ScanCudaParams& p, cudaStream_t stream);

}  // namespace mmx::cuda
