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

#include "ops/cuda/scan_cuda_block.cuh"
#include "ops/cuda/scan_cuda_launch.cuh"

namespace mmx::cuda {
namespace detail {

// kLocal: chunk-local pass (zero start, no output; writes chunk_h and chunk_dsum).
template <typename T, int S, int P, bool kLocal>
__global__ void __launch_bounds__(kBlockThreads, 5) scan_fwd_kernel(const ScanCudaParams p) {
  constexpr int NP = S * P, W = kFwdWindow, WP = W + 1;
  const Site t = thread_site<P>(p);
  const TypedInputs<T> in = typed_inputs<T>(p);
  const FwdSmem sm = fwd_smem(p.channels, NP);

  // A log2(e) (exp(Delta A) = exp2(Delta A log2 e)) and the state before the chunk: h0, the
  // combined carry, or zero (local pass), for the thread's states. One loop rather than
  // load_states calls: those cost up to 5 more registers here (ptxas -v).
  float a2[S], h[S];
#pragma unroll
  for (int s = 0; s < S; ++s) {
    const int n = t.lp * S + s;
    const bool ok = t.active && n < p.dims.N;
    a2[s] = ok ? p.A[static_cast<int64_t>(t.e) * p.dims.N + n] * kLog2e : 0.0f;
    if (kLocal || !ok) {
      h[s] = 0.0f;
    } else if (t.c == 0) {
      h[s] = p.h0 ? p.h0[t.be * p.dims.N + n] : 0.0f;
    } else {
      h[s] = p.chunk_carry[(t.be * p.n_chunks + t.c) * p.dims.N + n];
    }
  }
  const float Dv = (!kLocal && t.active && p.D) ? p.D[t.e] : 0.0f;
  float dsum = 0.0f;

  const StepRange steps = chunk_steps(p, t);
  const int64_t bc_base = bc_offset(p, t);
  for (int k0 = steps.begin; k0 < steps.end; k0 += W) {
    const int kn = min(W, steps.end - k0);
    __syncthreads();  // the previous window's readers are done
    // Stage the window: u, Delta (bias and softplus applied here, once per element) and silu(z);
    // 8 elements per array and thread in flight (16 for one-lane channels).
    stage_rows<W, P, (P == 1 ? 16 : 8), 3>(
        p, t, k0, kn,
        [&](int64_t idx, int e2, float(&v)[3]) {
          v[0] = load_f(in.u, idx);
          v[1] = load_f(in.delta, idx) + (p.delta_bias ? p.delta_bias[e2] : 0.0f);
          if (!kLocal && in.z) v[2] = load_f(in.z, idx);
        },
        [&](int at, const float(&v)[3]) {
          sm.u[at] = v[0];
          sm.dt[at] = p.delta_softplus ? softplus_f(v[1]) : v[1];
          if (!kLocal) sm.zs[at] = v[2] * sigmoid_f(v[2]);
        });
    stage_bc<S * P, W, !kLocal>(in.B, in.C, bc_base, p.dims.N, p.dims.L, k0, kn, p.reverse, sm.B, sm.C);
    __syncthreads();

#pragma unroll 4
    for (int kk = 0; kk < kn; ++kk) {
      const int k = k0 + kk;
      if (!kLocal && p.ckpt && (k % kSubChunk) == 0 && t.active)
        store_states<S>(p, t, p.ckpt + (t.be * p.n_sub + k / kSubChunk) * p.dims.N, h);
      const float dt = sm.dt[t.ch * WP + kk];
      const float dtu = dt * sm.u[t.ch * WP + kk];
      float bv[S];
      load_smem_vec<S>(sm.B + kk * NP + t.lp * S, bv);
      if constexpr (kLocal) {
#pragma unroll
        for (int s = 0; s < S; ++s) h[s] = fmaf(exp2f(dt * a2[s]), h[s], dtu * bv[s]);
        dsum += dt;
      } else {
        float cv[S];
        load_smem_vec<S>(sm.C + kk * NP + t.lp * S, cv);
        float y = 0.0f;
#pragma unroll
        for (int s = 0; s < S; ++s) {
          h[s] = fmaf(exp2f(dt * a2[s]), h[s], dtu * bv[s]);
          y = fmaf(cv[s], h[s], y);
        }
        y = team_sum<P>(y);
        if (t.lp == 0) sm.y[t.ch * WP + kk] = fmaf(Dv, sm.u[t.ch * WP + kk], y);
      }
    }

    if constexpr (!kLocal) {
      __syncthreads();
      T* out = static_cast<T*>(p.out);
      write_rows<W>(p, t, k0, kn, [&](int64_t idx, int at) {
        float o = sm.y[at];
        if (in.z) o *= sm.zs[at];
        store_f(out, idx, o);
      });
    }
  }

  if (!t.active) return;
  if constexpr (kLocal) {
    store_chunk_local<S>(p, t, h, dsum);
  } else if (t.c == p.n_chunks - 1 && p.last_state) {
    store_states<S>(p, t, p.last_state + t.be * p.dims.N, h);
  }
}

// Forward launches for input dtype T: local pass, combine, main pass (scan_cuda_launch.cuh).
template <typename T>
cudaError_t fwd_dispatch_n(const ScanCudaParams& p, cudaStream_t stream) {
  return dispatch_states(p, [&](auto S_, auto P_) {
    constexpr int S = decltype(S_)::value, P = decltype(P_)::value;
    const size_t smem = sizeof(float) * fwd_smem_floats(p.channels, S * P);
    return launch_passes<false>(p, p.channels * P, scan_fwd_kernel<T, S, P, true>, smem,
                                scan_fwd_kernel<T, S, P, false>, smem, stream);
  });
}

}  // namespace detail
}  // namespace mmx::cuda
