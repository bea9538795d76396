// Backward selective-scan kernels (templates, instantiated per input dtype by scan_bwd_*.cu):
// deterministic, no atomics, memory O(states every 8 steps).
//
// Mapping (as the forward, scan_fwd_cuda.cuh). A thread owns S consecutive states of one channel,
// P lanes make a channel, a block of up to 128 threads holds channels of one (batch, group):
// grid = (batch*G, channel tiles, time chunks). Threads walk their chunk backwards in windows of
// 16 steps staged in shared memory (u, Delta, softplus', silu(z), silu'(z), dout per channel; B
// and C per step), and each window in sub-chunks of 8 steps. For a sub-chunk the thread reloads
// the saved state before it (ckpt), recomputes the 8 states *in registers* (h[8][S], fully
// unrolled), then runs the reverse recurrence g <- exp(Delta A) g + C dy over those 8 steps with
// the gradient state g[S] in registers. du and ddelta are P-lane shuffle sums; dA, dD,
// ddelta_bias are per-thread register sums written once per (b, chunk, channel) and summed over
// batch and chunks by the caller in a fixed order.
//
// dB and dC are sums over the channels of a group. Per step, each warp reduces its channels'
// contributions with a butterfly reduce-scatter (log2(32/P) shuffle rounds that halve the vector
// each time), warps write their partial sums to shared memory, and after each sub-chunk the block
// adds the warps in a fixed order and writes one partial per (tile, n, t): (batch, G, tiles, 2,
// N, L). The caller sums the tiles (a handful) in a fixed order: the result is bitwise
// reproducible run to run.
//
// Long sequences with few channels split time into chunks as the forward does: a local reverse
// pass per chunk (gradient flowing out of the chunk start from a zero end gradient; needs no
// states), a combine pass over chunks per (b, e, n), and the main pass from the true chunk-end
// gradient. The gradient of the last state (dlast) enters as the end gradient of the last chunk;
// dh0 is the gradient left after chunk 0.
#pragma once

#include "ops/cuda/scan_cuda_block.cuh"
#include "ops/cuda/scan_cuda_launch.cuh"

namespace mmx::cuda {
namespace detail {

// Local reverse pass of one chunk from a zero end gradient: q = gradient w.r.t. the state before
// the chunk, dsum = sum of Delta over the chunk.
template <typename T, int S, int P>
__global__ void __launch_bounds__(kBlockThreads, 4) scan_bwd_local_kernel(const ScanCudaParams p) {
  constexpr int NP = S * P, W = kFwdWindow, WP = W + 1;
  const Site t = thread_site<P>(p);
  const TypedInputs<T> in = typed_inputs<T>(p);
  const BwdLocalSmem sm = bwd_local_smem(p.channels);

  float a2[S], gh[S] = {};
  load_A_log2e<S>(p, t, a2);
  float dsum = 0.0f;
  const int64_t bc_base = bc_offset(p, t);
  for_windows_reversed<W>(chunk_steps(p, t), [&](int k0, int kn) {
    // Delta (bias, softplus) and dy = dout * silu(z) per channel and step.
    stage_rows<W, P, 8, 3>(
        p, t, k0, kn,
        [&](int64_t idx, int e2, float(&v)[3]) {
          v[0] = load_f(in.delta, idx) + (p.delta_bias ? p.delta_bias[e2] : 0.0f);
          v[1] = load_f(in.dout, idx);
          if (in.z) v[2] = load_f(in.z, idx);
        },
        [&](int at, const float(&v)[3]) {
          sm.dt[at] = p.delta_softplus ? softplus_f(v[0]) : v[0];
          sm.dy[at] = in.z ? v[1] * v[2] * sigmoid_f(v[2]) : v[1];
        });
    stage_bc<NP, W, false>(in.C, in.C, bc_base, p.dims.N, p.dims.L, k0, kn, p.reverse, sm.C, sm.C);
    __syncthreads();
#pragma unroll 4
    for (int kk = kn - 1; kk >= 0; --kk) {
      const float dt = sm.dt[t.ch * WP + kk], dy = sm.dy[t.ch * WP + kk];
      float cv[S];
      load_smem_vec<S>(sm.C + kk * NP + t.lp * S, cv);
#pragma unroll
      for (int s = 0; s < S; ++s) gh[s] = exp2f(dt * a2[s]) * fmaf(cv[s], dy, gh[s]);
      dsum += dt;
    }
  });
  if (!t.active) return;
  store_chunk_local<S>(p, t, gh, dsum);
}

// Butterfly reduce-scatter of V = 2S values over the 32/P channels of a warp (lane bits
// log2(P)..4), then plain sums once each lane holds one value. Lanes with `writer` set store
// their values to red[(which * NP + n)] for the value indices they hold.
template <int S, int P>
__device__ __forceinline__ void warp_reduce_dbc(float (&v)[2 * S], int lane, int lp, float* red) {
  constexpr int NP = S * P;
  constexpr int CB = 5 - ilog2(P);  // channel bits in a lane index
  constexpr int V = 2 * S;
  constexpr int LOGV = ilog2(V);
  constexpr int R = CB < LOGV ? CB : LOGV;  // halving rounds
  int base = 0;
#pragma unroll
  for (int i = 0; i < R; ++i) {
    const int o = 16 >> i;
    const int m = V >> i;
    const bool up = (lane & o) != 0;
#pragma unroll
    for (int j = 0; j < V / 2; ++j) {
      if (j < m / 2) {
        const float send = up ? v[j] : v[j + m / 2];
        const float keep = up ? v[j + m / 2] : v[j];
        v[j] = keep + __shfl_xor_sync(kFullMask, send, o);
      }
    }
    if (up) base += m / 2;
  }
#pragma unroll
  for (int i = R; i < CB; ++i) {
    const int o = 16 >> i;
#pragma unroll
    for (int j = 0; j < (V >> R); ++j) v[j] += __shfl_xor_sync(kFullMask, v[j], o);
  }
  const bool writer = ((lane / P) & ((1 << (CB - R)) - 1)) == 0;
  if (writer) {
#pragma unroll
    for (int j = 0; j < (V >> R); ++j) {
      const int idx = base + j;
      const int which = idx / S, s = idx - which * S;
      red[which * NP + lp * S + s] = v[j];
    }
  }
}

template <typename T, int S, int P>
__global__ void __launch_bounds__(kBlockThreads, 3) scan_bwd_kernel(const ScanCudaParams p) {
  constexpr int NP = S * P, W = kBwdWindow, WP = W + 1, K = kSubChunk;
  const Site t = thread_site<P>(p);
  const TypedInputs<T> in = typed_inputs<T>(p);
  const int lane = t.tid % 32, warp = t.tid / 32;
  const int warps = blockDim.x / 32;
  const BwdSmem sm = bwd_smem(p.channels, NP);

  // A, A log2(e), the gradient entering the chunk's last step (the combined carry, or dlast for
  // the last chunk, or zero), and the dA sums. This kernel sits at its register cap (168, from
  // __launch_bounds__): the state setup, the window loop and the saved-state load below are
  // written out as before the shared helpers (load_states, for_windows_reversed), which made
  // ptxas spill for some (S, P) here (ptxas -v, per instantiation).
  float a2[S], av[S], gh[S], dA[S];
#pragma unroll
  for (int s = 0; s < S; ++s) {
    const int n = t.lp * S + s;
    const bool ok = t.active && n < p.dims.N;
    av[s] = ok ? p.A[static_cast<int64_t>(t.e) * p.dims.N + n] : 0.0f;
    a2[s] = av[s] * kLog2e;
    dA[s] = 0.0f;
    if (!ok) {
      gh[s] = 0.0f;
    } else if (p.chunk_carry) {
      gh[s] = p.chunk_carry[(t.be * p.n_chunks + t.c) * p.dims.N + n];
    } else {
      gh[s] = p.dlast ? p.dlast[t.be * p.dims.N + n] : 0.0f;
    }
  }
  const float Dv = (t.active && p.D) ? p.D[t.e] : 0.0f;
  float dD = 0.0f, dbias = 0.0f;

  const StepRange steps = chunk_steps(p, t);
  const int n_win = (steps.end - steps.begin + W - 1) / W;
  float* dBC = p.dBC_part + (static_cast<int64_t>(t.bg) * p.tiles + t.tile) * 2 * p.dims.N * p.dims.L;

  for (int w = n_win - 1; w >= 0; --w) {
    const int k0 = steps.begin + w * W, kn = min(W, steps.end - k0);
    __syncthreads();
    // u, Delta and softplus' (bias, softplus), silu(z), silu'(z), dout per channel and step.
    stage_rows<W, P, 4, 4>(
        p, t, k0, kn,
        [&](int64_t idx, int e2, float(&v)[4]) {
          v[0] = load_f(in.u, idx);
          v[1] = load_f(in.delta, idx) + (p.delta_bias ? p.delta_bias[e2] : 0.0f);
          v[2] = load_f(in.dout, idx);
          if (in.z) v[3] = load_f(in.z, idx);
        },
        [&](int at, const float(&v)[4]) {
          float dd = v[1], sp = 1.0f, zs = 1.0f, zd = 0.0f;
          if (p.delta_softplus && dd <= 20.0f) {
            sp = sigmoid_f(dd);
            dd = log1pf(__expf(dd));
          }
          if (in.z) {
            const float sg = sigmoid_f(v[3]);
            zs = v[3] * sg;
            zd = sg * (1.0f + v[3] * (1.0f - sg));
          }
          sm.u[at] = v[0];
          sm.dt[at] = dd;
          sm.sp[at] = sp;
          sm.zs[at] = zs;
          sm.zd[at] = zd;
          sm.dout[at] = v[2];
        });
    stage_bc<NP, W, true>(in.B, in.C, bc_offset(p, t), p.dims.N, p.dims.L, k0, kn, p.reverse, sm.B, sm.C);
    __syncthreads();

    const int n_sub_w = (kn + K - 1) / K;
    for (int sc = n_sub_w - 1; sc >= 0; --sc) {
      const int ks = k0 + sc * K;  // a multiple of K: chunks start at multiples of 32
      const int kc = min(K, k0 + kn - ks);
      const int kk0 = sc * K;
      // States before each step of the sub-chunk, recomputed from the saved one.
      float hs[K][S];
      float yv[K];
      {
        float h[S];
#pragma unroll
        for (int s = 0; s < S; ++s)
          h[s] = (t.active && t.lp * S + s < p.dims.N) ? p.ckpt[(t.be * p.n_sub + ks / K) * p.dims.N + t.lp * S + s]
                                                       : 0.0f;
#pragma unroll
        for (int j = 0; j < K; ++j) {
          yv[j] = 0.0f;
          if (j < kc) {
            const int kk = kk0 + j;
            const float dt = sm.dt[t.ch * WP + kk];
            const float dtu = dt * sm.u[t.ch * WP + kk];
            float bv[S], cv[S];
            load_smem_vec<S>(sm.B + kk * NP + t.lp * S, bv);
            load_smem_vec<S>(sm.C + kk * NP + t.lp * S, cv);
            float y = 0.0f;
#pragma unroll
            for (int s = 0; s < S; ++s) {
              hs[j][s] = h[s];
              h[s] = fmaf(exp2f(dt * a2[s]), h[s], dtu * bv[s]);
              y = fmaf(cv[s], h[s], y);
            }
            if (in.z) yv[j] = team_sum<P>(y);
          }
        }
      }
      // Reverse recurrence over the sub-chunk.
#pragma unroll
      for (int j = K - 1; j >= 0; --j) {
        if (j < kc) {
          const int kk = kk0 + j;
          const float dt = sm.dt[t.ch * WP + kk], uu = sm.u[t.ch * WP + kk];
          const float go = sm.dout[t.ch * WP + kk];
          const float dy = go * sm.zs[t.ch * WP + kk];
          float bv[S], cv[S];
          load_smem_vec<S>(sm.B + kk * NP + t.lp * S, bv);
          load_smem_vec<S>(sm.C + kk * NP + t.lp * S, cv);
          const float dtu = dt * uu;
          float ddt = 0.0f, dub = 0.0f;
          float v[2 * S];
#pragma unroll
          for (int s = 0; s < S; ++s) {
            const float gs = fmaf(cv[s], dy, gh[s]);
            const float x = exp2f(dt * a2[s]);
            const float xh = x * hs[j][s];
            dA[s] = fmaf(gs * xh, dt, dA[s]);
            ddt = fmaf(gs, fmaf(av[s], xh, bv[s] * uu), ddt);
            dub = fmaf(gs, bv[s], dub);
            v[s] = gs * dtu;                       // dB
            v[S + s] = dy * fmaf(dtu, bv[s], xh);  // dC = dy * h
            gh[s] = x * gs;
          }
          ddt = team_sum<P>(ddt);
          dub = team_sum<P>(dub);
          if (t.lp == 0) {
            const float dd = ddt * sm.sp[t.ch * WP + kk];
            sm.du[t.ch * WP + kk] = fmaf(dub, dt, Dv * dy);
            sm.dd[t.ch * WP + kk] = dd;
            if (in.z) sm.dz[t.ch * WP + kk] = go * fmaf(Dv, uu, yv[j]) * sm.zd[t.ch * WP + kk];
            dD = fmaf(dy, uu, dD);
            dbias += dd;
          }
          warp_reduce_dbc<S, P>(v, lane, t.lp, sm.red + (warp * K + j) * 2 * NP);
        }
      }
      __syncthreads();
      // Sum the warps' partials in order; one partial per (tile, which, n, t).
      for (int i = t.tid; i < 2 * NP * K; i += blockDim.x) {
        const int j = i % K, vi = i / K;
        const int which = vi / NP, n = vi - which * NP;
        if (j >= kc || n >= p.dims.N) continue;
        float acc = 0.0f;
        for (int wi = 0; wi < warps; ++wi) acc += sm.red[(wi * K + j) * 2 * NP + vi];
        dBC[(static_cast<int64_t>(which) * p.dims.N + n) * p.dims.L + time_of(ks + j, p.dims.L, p.reverse)] = acc;
      }
      __syncthreads();
    }

    // Write the window's per-step gradients, coalesced.
    T* du = static_cast<T*>(p.du);
    T* ddelta = static_cast<T*>(p.ddelta);
    T* dz = static_cast<T*>(p.dz);
    write_rows<W>(p, t, k0, kn, [&](int64_t idx, int at) {
      store_f(du, idx, sm.du[at]);
      store_f(ddelta, idx, sm.dd[at]);
      if (in.z) store_f(dz, idx, sm.dz[at]);
    });
  }

  if (!t.active) return;
  const int64_t part = (static_cast<int64_t>(t.b) * p.n_chunks + t.c) * p.dims.E + t.e;
  store_states<S>(p, t, p.dA_part + part * p.dims.N, dA);
  if (t.c == 0 && p.dh0) store_states<S>(p, t, p.dh0 + t.be * p.dims.N, gh);
  if (t.lp == 0) {
    p.dD_part[part] = dD;
    p.ddelta_bias_part[part] = dbias;
  }
}

// Backward launches for input dtype T: local reverse pass, combine, main pass
// (scan_cuda_launch.cuh). The local pass stages fewer rows than the main one: the forward's
// shared-memory size covers it.
template <typename T>
cudaError_t bwd_dispatch_n(const ScanCudaParams& p, cudaStream_t stream) {
  return dispatch_states(p, [&](auto S_, auto P_) {
    constexpr int S = decltype(S_)::value, P = decltype(P_)::value;
    const int threads = p.channels * P;
    return launch_passes<true>(p, threads, scan_bwd_local_kernel<T, S, P>,
                               sizeof(float) * fwd_smem_floats(p.channels, S * P), scan_bwd_kernel<T, S, P>,
                               sizeof(float) * bwd_smem_floats(p.channels, S * P, threads / 32), stream);
  });
}

}  // namespace detail
}  // namespace mmx::cuda
