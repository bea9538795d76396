// Forward selective-scan kernels (templates, instantiated per input dtype by scan_fwd_*.cu).
//
// Mapping. A thread owns S consecutive states (n = lane*S .. lane*S+S-1) of one channel (b, e);
// P = ceil(N/S) threads ("lanes", adjacent in a warp) make up the channel, and a block of up to
// 128 threads (p.channels x P; 32 or 64 for small groups) holds channels of one (batch, group):
// grid = (batch*G, channel tiles, time chunks).
// Each thread runs *sequentially over time* with its S states and exp(Delta*A) inputs in
// registers: the only dependency between steps is one FMA per state, so nothing waits on a scan
// tree, and y = sum_n C h is a P-lane shuffle reduction. (S, P) are compile-time: (1,1) for N = 1,
// (4,1) N <= 4, (8,1) N <= 8, then S = 8 and P = 2..32 up to N = 256.
//
// Shared memory. Windows of 32 steps are staged cooperatively and coalesced: per channel u,
// Delta (bias and softplus applied once per element here, not per state), silu(z), and the
// output y + D u; per step B and C of the group (step-major, read as float4 by the lanes). The
// output row is written back coalesced after each window, converted to the input dtype.
// Compile-time: input dtype, S, P, local/main pass; z, D, delta_bias, h0, softplus, reverse and
// saving states are run-time flags (uniform branches).
//
// Regimes (plan_scan_cuda). Many short sequences: one chunk (the whole sequence) per channel, a
// single launch. Long sequences with too few channels to fill the GPU: time is split into
// n_chunks chunks scanned in parallel in three launches: a local pass (each chunk from a zero
// state: its end state and sum of Delta), a combine pass over chunks per (b, e, n)
// (h <- exp(A sum Delta) h + h_local), and the main pass from the true chunk start states.
// When asked (training), the main pass saves the state before every 8-step sub-chunk (ckpt) for
// the backward, which recomputes inside a sub-chunk in registers.
#pragma once

#include "ops/cuda/scan_cuda_common.cuh"

namespace mmx::cuda {
namespace detail {

// kLocal: chunk-local pass (zero start, no output; writes chunk_h and chunk_dsum).
template <typename T, int S, int P, bool kLocal>
__global__ void __launch_bounds__(kBlockThreads, 5) scan_fwd_kernel(const ScanCudaParams p) {
  constexpr int NP = S * P;
  constexpr int W = kFwdWindow, WP = W + 1;
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  const int CH = p.channels;
  const int tid = threadIdx.x, lp = tid % P, ch = tid / P;
  const int bg = blockIdx.x, tile = blockIdx.y, c = blockIdx.z;
  const int b = bg / p.G, g = bg % p.G;
  const int ech = tile * CH + ch;
  const bool active = ech < p.Eg;
  const int e = g * p.Eg + (active ? ech : 0);
  const int64_t be = static_cast<int64_t>(b) * p.E + e;
  const int N = p.N, L = p.L;

  const T* u = static_cast<const T*>(p.u);
  const T* delta = static_cast<const T*>(p.delta);
  const T* z = static_cast<const T*>(p.z);
  const T* Bp = static_cast<const T*>(p.B);
  const T* Cp = static_cast<const T*>(p.C);

  float* s_u = smem;
  float* s_dt = s_u + CH * WP;
  float* s_zs = s_dt + CH * WP;
  float* s_y = s_zs + CH * WP;
  float* s_B = smem + align4(4 * CH * WP);
  float* s_C = s_B + W * NP;

  float a2[S], h[S];
#pragma unroll
  for (int s = 0; s < S; ++s) {
    const int n = lp * S + s;
    const bool ok = active && n < N;
    a2[s] = ok ? p.A[static_cast<int64_t>(e) * N + n] * kLog2e : 0.0f;
    if (kLocal || !ok) {
      h[s] = 0.0f;
    } else if (c == 0) {
      h[s] = p.h0 ? p.h0[be * N + n] : 0.0f;
    } else {
      h[s] = p.chunk_carry[(be * p.n_chunks + c) * N + n];
    }
  }
  const float Dv = (!kLocal && active && p.D) ? p.D[e] : 0.0f;
  float dsum = 0.0f;

  const int kb = c * p.chunk, ke = min(L, kb + p.chunk);
  const int64_t bc_base = static_cast<int64_t>(bg) * N * L;
  for (int k0 = kb; k0 < ke; k0 += W) {
    const int kn = min(W, ke - k0);
    __syncthreads();  // the previous window's readers are done
    // Stage the window: each thread issues a batch of loads (8 elements per array, 16 for
    // one-lane channels) before it uses any of them; other resident blocks compute meanwhile.
    constexpr int CNT = (W + P - 1) / P;  // per-channel elements per thread (block = CH * P)
    constexpr int BATCH = P == 1 ? (CNT < 16 ? CNT : 16) : (CNT < 8 ? CNT : 8);
#pragma unroll 1
    for (int i0 = 0; i0 < CH * kn; i0 += BATCH * blockDim.x) {
      float ru[BATCH], rd[BATCH], rz[BATCH];
#pragma unroll
      for (int j = 0; j < BATCH; ++j) {
        const int i = i0 + tid + j * blockDim.x;
        const int r = kn == W ? i / W : i / kn, kk = i - r * kn;
        const int ec = tile * CH + r;
        ru[j] = rd[j] = rz[j] = 0.0f;
        if (i < CH * kn && ec < p.Eg) {
          const int e2 = g * p.Eg + ec;
          const int64_t idx = (static_cast<int64_t>(b) * p.E + e2) * L + time_of(k0 + kk, L, p.reverse);
          ru[j] = load_f(u, idx);
          rd[j] = load_f(delta, idx) + (p.delta_bias ? p.delta_bias[e2] : 0.0f);
          if (!kLocal && z) rz[j] = load_f(z, idx);
        }
      }
#pragma unroll
      for (int j = 0; j < BATCH; ++j) {
        const int i = i0 + tid + j * blockDim.x;
        if (i >= CH * kn) break;
        const int r = kn == W ? i / W : i / kn, kk = i - r * kn;
        s_u[r * WP + kk] = ru[j];
        s_dt[r * WP + kk] = p.softplus ? softplus_f(rd[j]) : rd[j];
        if (!kLocal) s_zs[r * WP + kk] = rz[j] * sigmoid_f(rz[j]);
      }
    }
    stage_bc<S * P, W, !kLocal>(Bp, Cp, bc_base, N, L, k0, kn, p.reverse, s_B, s_C);
    __syncthreads();

#pragma unroll 4
    for (int kk = 0; kk < kn; ++kk) {
      const int k = k0 + kk;
      if (!kLocal && p.ckpt && (k % kSubChunk) == 0 && active) {
        float* dst = p.ckpt + (be * p.n_sub + k / kSubChunk) * N;
#pragma unroll
        for (int s = 0; s < S; ++s)
          if (lp * S + s < N) dst[lp * S + s] = h[s];
      }
      const float dt = s_dt[ch * WP + kk];
      const float dtu = dt * s_u[ch * WP + kk];
      float bv[S];
      load_smem_vec<S>(s_B + kk * NP + lp * S, bv);
      if constexpr (kLocal) {
#pragma unroll
        for (int s = 0; s < S; ++s) h[s] = fmaf(exp2f(dt * a2[s]), h[s], dtu * bv[s]);
        dsum += dt;
      } else {
        float cv[S];
        load_smem_vec<S>(s_C + kk * NP + lp * S, cv);
        float y = 0.0f;
#pragma unroll
        for (int s = 0; s < S; ++s) {
          h[s] = fmaf(exp2f(dt * a2[s]), h[s], dtu * bv[s]);
          y = fmaf(cv[s], h[s], y);
        }
        y = team_sum<P>(y);
        if (lp == 0) s_y[ch * WP + kk] = fmaf(Dv, s_u[ch * WP + kk], y);
      }
    }

    if constexpr (!kLocal) {
      __syncthreads();
      T* out = static_cast<T*>(p.out);
      for (int i = tid; i < CH * kn; i += blockDim.x) {
        const int r = kn == W ? i / W : i / kn, kk = i - r * kn;
        const int ec = tile * CH + r;
        if (ec >= p.Eg) continue;
        const int64_t idx =
            (static_cast<int64_t>(b) * p.E + g * p.Eg + ec) * L + time_of(k0 + kk, L, p.reverse);
        float o = s_y[r * WP + kk];
        if (z) o *= s_zs[r * WP + kk];
        store_f(out, idx, o);
      }
    }
  }

  if (!active) return;
  if constexpr (kLocal) {
#pragma unroll
    for (int s = 0; s < S; ++s)
      if (lp * S + s < N) p.chunk_h[(be * p.n_chunks + c) * N + lp * S + s] = h[s];
    if (lp == 0) p.chunk_dsum[be * p.n_chunks + c] = dsum;
  } else if (c == p.n_chunks - 1 && p.last_state) {
#pragma unroll
    for (int s = 0; s < S; ++s)
      if (lp * S + s < N) p.last_state[be * N + lp * S + s] = h[s];
  }
}

// Chunk combine, one thread per (b, e, n): chunk start states from the local end states.
static __global__ void scan_fwd_combine_kernel(const ScanCudaParams p) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t total = static_cast<int64_t>(p.batch) * p.E * p.N;
  if (idx >= total) return;
  const int64_t be = idx / p.N;
  const int n = static_cast<int>(idx - be * p.N);
  const int e = static_cast<int>(be % p.E);
  const float a2 = p.A[static_cast<int64_t>(e) * p.N + n] * kLog2e;
  float h = p.h0 ? p.h0[idx] : 0.0f;
  for (int c = 0; c < p.n_chunks; ++c) {
    const int64_t ci = (be * p.n_chunks + c) * p.N + n;
    p.chunk_carry[ci] = h;
    h = fmaf(exp2f(a2 * p.chunk_dsum[be * p.n_chunks + c]), h, p.chunk_h[ci]);
  }
}

template <typename T, int S, int P>
cudaError_t launch_fwd(const ScanCudaParams& p, cudaStream_t stream) {
  const int threads = p.channels * P;
  const dim3 grid(p.batch * p.G, p.tiles, p.n_chunks);
  const size_t smem = sizeof(float) * fwd_smem_floats(p.channels, S * P);
  if (smem > 48 * 1024) {
    cudaFuncSetAttribute(scan_fwd_kernel<T, S, P, false>,
                         cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    cudaFuncSetAttribute(scan_fwd_kernel<T, S, P, true>,
                         cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  }
  if (p.n_chunks > 1) {
    scan_fwd_kernel<T, S, P, true><<<grid, threads, smem, stream>>>(p);
    const int64_t total = static_cast<int64_t>(p.batch) * p.E * p.N;
    scan_fwd_combine_kernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(p);
  }
  scan_fwd_kernel<T, S, P, false><<<grid, threads, smem, stream>>>(p);
  return cudaGetLastError();
}

template <typename T>
cudaError_t fwd_dispatch_n(const ScanCudaParams& p, cudaStream_t stream) {
  switch (p.lanes) {
    case 1:
      if (p.N == 1) return launch_fwd<T, 1, 1>(p, stream);
      if (p.N <= 4) return launch_fwd<T, 4, 1>(p, stream);
      return launch_fwd<T, 8, 1>(p, stream);
    case 2: return launch_fwd<T, 8, 2>(p, stream);
    case 4: return launch_fwd<T, 8, 4>(p, stream);
    case 8: return launch_fwd<T, 8, 8>(p, stream);
    case 16: return launch_fwd<T, 8, 16>(p, stream);
    default: return launch_fwd<T, 8, 32>(p, stream);
  }
}

}  // namespace detail
}  // namespace mmx::cuda

