// Device helpers shared by the forward and backward selective-scan kernels: dtype conversion,
// the per-state configuration (S states per thread, P threads per channel), shared-memory layout
// and the launch-time plan. See scan_fwd_cuda.cuh / scan_bwd_cuda.cuh for the kernels.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "ops/cuda/scan_cuda.h"

namespace mmx::cuda::detail {

constexpr float kLog2e = 1.4426950408889634f;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kBlockThreads = 128;
constexpr int kFwdWindow = 32;  // steps staged in shared memory at once (forward, local passes)
constexpr int kBwdWindow = 16;  // steps staged at once (backward main pass; two sub-chunks)

__device__ __forceinline__ float load_f(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load_f(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ float load_f(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ void store_f(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store_f(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }
__device__ __forceinline__ void store_f(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }

__device__ __forceinline__ float sigmoid_f(float x) { return 1.0f / (1.0f + __expf(-x)); }
// softplus with mamba_ssm's threshold 20.
__device__ __forceinline__ float softplus_f(float x) { return x <= 20.0f ? log1pf(__expf(x)) : x; }

__device__ __forceinline__ int time_of(int k, int L, bool reverse) { return reverse ? L - 1 - k : k; }

// Sum over the P threads of one channel (aligned groups of P lanes in a warp). Every lane of the
// team gets the same, bitwise identical value.
template <int P>
__device__ __forceinline__ float team_sum(float v) {
#pragma unroll
  for (int o = P / 2; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

// S consecutive floats from shared memory (16-byte loads when S is a multiple of 4; the callers
// keep those addresses 16-byte aligned).
template <int S>
__device__ __forceinline__ void load_smem_vec(const float* src, float (&dst)[S]) {
  if constexpr (S % 4 == 0) {
#pragma unroll
    for (int i = 0; i < S / 4; ++i) {
      const float4 v = reinterpret_cast<const float4*>(src)[i];
      dst[4 * i] = v.x;
      dst[4 * i + 1] = v.y;
      dst[4 * i + 2] = v.z;
      dst[4 * i + 3] = v.w;
    }
  } else {
#pragma unroll
    for (int i = 0; i < S; ++i) dst[i] = src[i];
  }
}

// Stages B (and C) of one (batch, group) for window steps [k0, k0 + kn) into step-major shared
// arrays sB[kk * NP + n] (zero for n >= N), four independent loads per thread in flight at a
// time.
template <int NP, int W, bool kWithC, typename T>
__device__ __forceinline__ void stage_bc(const T* Bp, const T* Cp, int64_t base, int N, int L, int k0, int kn,
                                         bool reverse, float* sB, float* sC) {
  for (int i0 = 0; i0 < NP * kn; i0 += 4 * blockDim.x) {
    float rb[4], rc[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int i = i0 + threadIdx.x + q * blockDim.x;
      const int n = kn == W ? i / W : i / kn, kk = i - n * kn;
      rb[q] = rc[q] = 0.0f;
      if (i < NP * kn && n < N) {
        const int64_t idx = base + static_cast<int64_t>(n) * L + time_of(k0 + kk, L, reverse);
        rb[q] = load_f(Bp, idx);
        if (kWithC) rc[q] = load_f(Cp, idx);
      }
    }
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int i = i0 + threadIdx.x + q * blockDim.x;
      if (i < NP * kn) {
        const int n = kn == W ? i / W : i / kn, kk = i - n * kn;
        sB[kk * NP + n] = rb[q];
        if (kWithC) sC[kk * NP + n] = rc[q];
      }
    }
  }
}

__host__ __device__ constexpr int align4(int x) { return (x + 3) & ~3; }
__host__ __device__ constexpr int ilog2(int x) { return x <= 1 ? 0 : 1 + ilog2(x / 2); }

// Shared-memory layouts of the kernels, each next to its size in floats (what the launches
// allocate): per-channel rows of W + 1 floats, one per step of the staged window (padded against
// bank conflicts), then B and C of the group for the window's steps, step-major (W x S*P each).

/// The block's dynamic shared memory.
__device__ __forceinline__ float* dynamic_smem() {
  extern __shared__ float4 smem4[];
  return reinterpret_cast<float*>(smem4);
}

/// Forward kernels (main and local pass): rows u, Delta, silu(z), y; then B, C.
struct FwdSmem {
  float *u, *dt, *zs, *y, *B, *C;
};
__device__ __forceinline__ FwdSmem fwd_smem(int channels, int np) {
  float* base = dynamic_smem();
  const int row = channels * (kFwdWindow + 1);
  float* bc = base + align4(4 * row);
  return {base, base + row, base + 2 * row, base + 3 * row, bc, bc + kFwdWindow * np};
}
__host__ __device__ inline int fwd_smem_floats(int channels, int np) {
  return align4(4 * channels * (kFwdWindow + 1)) + 2 * kFwdWindow * np;
}

/// Backward local pass (launched with fwd_smem_floats, which covers it): rows Delta, dy (and a
/// spare one); then C.
struct BwdLocalSmem {
  float *dt, *dy, *C;
};
__device__ __forceinline__ BwdLocalSmem bwd_local_smem(int channels) {
  float* base = dynamic_smem();
  const int row = channels * (kFwdWindow + 1);
  return {base, base + row, base + align4(3 * row)};
}

/// Backward main kernel: nine rows u, Delta, softplus'(delta') (1 without softplus), silu(z),
/// silu'(z), dout, du, ddelta, dz; then B, C; then the warps' dB/dC partials (warps x sub-chunk
/// x 2 x S*P).
struct BwdSmem {
  float *u, *dt, *sp, *zs, *zd, *dout, *du, *dd, *dz, *B, *C, *red;
};
__device__ __forceinline__ BwdSmem bwd_smem(int channels, int np) {
  float* base = dynamic_smem();
  const int row = channels * (kBwdWindow + 1);
  float* bc = base + align4(9 * row);
  float* red = base + align4(align4(9 * row) + 2 * kBwdWindow * np);
  return {base,
          base + row,
          base + 2 * row,
          base + 3 * row,
          base + 4 * row,
          base + 5 * row,
          base + 6 * row,
          base + 7 * row,
          base + 8 * row,
          bc,
          bc + kBwdWindow * np,
          red};
}
__host__ __device__ inline int bwd_smem_floats(int channels, int np, int warps) {
  return align4(align4(9 * channels * (kBwdWindow + 1)) + 2 * kBwdWindow * np) + warps * kSubChunk * 2 * np;
}

// Per-dtype entry points (scan_fwd_*.cu, scan_bwd_*.cu).
cudaError_t scan_fwd_f32(const ScanCudaParams& p, cudaStream_t stream);
cudaError_t scan_fwd_bf16(const ScanCudaParams& p, cudaStream_t stream);
cudaError_t scan_fwd_f16(const ScanCudaParams& p, cudaStream_t stream);
cudaError_t scan_bwd_f32(const ScanCudaParams& p, cudaStream_t stream);
cudaError_t scan_bwd_bf16(const ScanCudaParams& p, cudaStream_t stream);
cudaError_t scan_bwd_f16(const ScanCudaParams& p, cudaStream_t stream);

}  // namespace mmx::cuda::detail
