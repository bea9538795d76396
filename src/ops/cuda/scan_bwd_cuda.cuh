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

#include "ops/cuda/scan_cuda_common.cuh"

namespace mmx::cuda {
namespace detail {

// Local reverse pass of one chunk from a zero end gradient: q = gradient w.r.t. the state before
// the chunk, dsum = sum of Delta over the chunk.
template <typename T, int S, int P>
__global__ void __launch_bounds__(kBlockThreads, 4) scan_bwd_local_kernel(const ScanCudaParams p) {
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
  const T* delta = static_cast<const T*>(p.delta);
  const T* z = static_cast<const T*>(p.z);
  const T* dout = static_cast<const T*>(p.dout);
  const T* Cp = static_cast<const T*>(p.C);

  float* s_dt = smem;
  float* s_dy = s_dt + CH * WP;
  float* s_C = smem + align4(3 * CH * WP);

  float a2[S], gh[S];
#pragma unroll
  for (int s = 0; s < S; ++s) {
    const int n = lp * S + s;
    a2[s] = (active && n < N) ? p.A[static_cast<int64_t>(e) * N + n] * kLog2e : 0.0f;
    gh[s] = 0.0f;
  }
  float dsum = 0.0f;
  const int kb = c * p.chunk, ke = min(L, kb + p.chunk);
  const int n_win = (ke - kb + W - 1) / W;
  const int64_t bc_base = static_cast<int64_t>(bg) * N * L;
  for (int w = n_win - 1; w >= 0; --w) {
    const int k0 = kb + w * W, kn = min(W, ke - k0);
    __syncthreads();
    constexpr int CNT = (W + P - 1) / P;  // per-channel elements per thread
    constexpr int BATCH = CNT < 8 ? CNT : 8;
#pragma unroll 1
    for (int i0 = 0; i0 < CH * kn; i0 += BATCH * blockDim.x) {
      float rd[BATCH], ro[BATCH], rz[BATCH];
#pragma unroll
      for (int j = 0; j < BATCH; ++j) {
        const int i = i0 + tid + j * blockDim.x;
        const int r = kn == W ? i / W : i / kn, kk = i - r * kn;
        const int ec = tile * CH + r;
        rd[j] = ro[j] = rz[j] = 0.0f;
        if (i < CH * kn && ec < p.Eg) {
          const int e2 = g * p.Eg + ec;
          const int64_t idx = (static_cast<int64_t>(b) * p.E + e2) * L + time_of(k0 + kk, L, p.reverse);
          rd[j] = load_f(delta, idx) + (p.delta_bias ? p.delta_bias[e2] : 0.0f);
          ro[j] = load_f(dout, idx);
          if (z) rz[j] = load_f(z, idx);
        }
      }
#pragma unroll
      for (int j = 0; j < BATCH; ++j) {
        const int i = i0 + tid + j * blockDim.x;
        if (i >= CH * kn) break;
        const int r = kn == W ? i / W : i / kn, kk = i - r * kn;
        s_dt[r * WP + kk] = p.softplus ? softplus_f(rd[j]) : rd[j];
        s_dy[r * WP + kk] = z ? ro[j] * rz[j] * sigmoid_f(rz[j]) : ro[j];
      }
    }
    stage_bc<NP, W, false>(Cp, Cp, bc_base, N, L, k0, kn, p.reverse, s_C, s_C);
    __syncthreads();
#pragma unroll 4
    for (int kk = kn - 1; kk >= 0; --kk) {
      const float dt = s_dt[ch * WP + kk], dy = s_dy[ch * WP + kk];
      float cv[S];
      load_smem_vec<S>(s_C + kk * NP + lp * S, cv);
#pragma unroll
      for (int s = 0; s < S; ++s) gh[s] = exp2f(dt * a2[s]) * fmaf(cv[s], dy, gh[s]);
      dsum += dt;
    }
  }
  if (!active) return;
#pragma unroll
  for (int s = 0; s < S; ++s)
    if (lp * S + s < N) p.chunk_h[(be * p.n_chunks + c) * N + lp * S + s] = gh[s];
  if (lp == 0) p.chunk_dsum[be * p.n_chunks + c] = dsum;
}

// Chunk combine, one thread per (b, e, n): the gradient entering each chunk's last step.
static __global__ void scan_bwd_combine_kernel(const ScanCudaParams p) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t total = static_cast<int64_t>(p.batch) * p.E * p.N;
  if (idx >= total) return;
  const int64_t be = idx / p.N;
  const int n = static_cast<int>(idx - be * p.N);
  const int e = static_cast<int>(be % p.E);
  const float a2 = p.A[static_cast<int64_t>(e) * p.N + n] * kLog2e;
  float gsum = p.dlast ? p.dlast[idx] : 0.0f;
  for (int c = p.n_chunks - 1; c >= 0; --c) {
    const int64_t ci = (be * p.n_chunks + c) * p.N + n;
    p.chunk_carry[ci] = gsum;
    gsum = fmaf(exp2f(a2 * p.chunk_dsum[be * p.n_chunks + c]), gsum, p.chunk_h[ci]);
  }
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
  constexpr int NP = S * P;
  constexpr int W = kBwdWindow, WP = W + 1, K = kSubChunk;
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  const int CH = p.channels;
  const int tid = threadIdx.x, lp = tid % P, ch = tid / P, lane = tid % 32, warp = tid / 32;
  const int warps = blockDim.x / 32;
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
  const T* dout = static_cast<const T*>(p.dout);
  const T* Bp = static_cast<const T*>(p.B);
  const T* Cp = static_cast<const T*>(p.C);

  float* s_u = smem;
  float* s_dt = s_u + CH * WP;
  float* s_sp = s_dt + CH * WP;  // d softplus / d delta' (1 without softplus)
  float* s_zs = s_sp + CH * WP;  // silu(z)
  float* s_zd = s_zs + CH * WP;  // silu'(z)
  float* s_do = s_zd + CH * WP;  // dout
  float* s_du = s_do + CH * WP;
  float* s_dd = s_du + CH * WP;
  float* s_dz = s_dd + CH * WP;
  float* s_B = smem + align4(9 * CH * WP);
  float* s_C = s_B + W * NP;
  float* s_red = smem + align4(align4(9 * CH * WP) + 2 * W * NP);

  float a2[S], av[S], gh[S], dA[S];
#pragma unroll
  for (int s = 0; s < S; ++s) {
    const int n = lp * S + s;
    const bool ok = active && n < N;
    av[s] = ok ? p.A[static_cast<int64_t>(e) * N + n] : 0.0f;
    a2[s] = av[s] * kLog2e;
    dA[s] = 0.0f;
    if (!ok) {
      gh[s] = 0.0f;
    } else if (p.chunk_carry) {
      gh[s] = p.chunk_carry[(be * p.n_chunks + c) * N + n];
    } else {
      gh[s] = p.dlast ? p.dlast[be * N + n] : 0.0f;
    }
  }
  const float Dv = (active && p.D) ? p.D[e] : 0.0f;
  float dD = 0.0f, dbias = 0.0f;

  const int kb = c * p.chunk, ke = min(L, kb + p.chunk);
  const int n_win = (ke - kb + W - 1) / W;
  const int64_t bc_base = static_cast<int64_t>(bg) * N * L;
  float* dBC = p.dBC_part + (static_cast<int64_t>(bg) * p.tiles + tile) * 2 * N * L;

  for (int w = n_win - 1; w >= 0; --w) {
    const int k0 = kb + w * W, kn = min(W, ke - k0);
    __syncthreads();
    constexpr int CNT = (W + P - 1) / P;  // per-channel elements per thread
    constexpr int BATCH = CNT < 4 ? CNT : 4;
#pragma unroll 1
    for (int i0 = 0; i0 < CH * kn; i0 += BATCH * blockDim.x) {
      float ru[BATCH], rd[BATCH], ro[BATCH], rz[BATCH];
#pragma unroll
      for (int j = 0; j < BATCH; ++j) {
        const int i = i0 + tid + j * blockDim.x;
        const int r = kn == W ? i / W : i / kn, kk = i - r * kn;
        const int ec = tile * CH + r;
        ru[j] = rd[j] = ro[j] = rz[j] = 0.0f;
        if (i < CH * kn && ec < p.Eg) {
          const int e2 = g * p.Eg + ec;
          const int64_t idx = (static_cast<int64_t>(b) * p.E + e2) * L + time_of(k0 + kk, L, p.reverse);
          ru[j] = load_f(u, idx);
          rd[j] = load_f(delta, idx) + (p.delta_bias ? p.delta_bias[e2] : 0.0f);
          ro[j] = load_f(dout, idx);
          if (z) rz[j] = load_f(z, idx);
        }
      }
#pragma unroll
      for (int j = 0; j < BATCH; ++j) {
        const int i = i0 + tid + j * blockDim.x;
        if (i >= CH * kn) break;
        const int r = kn == W ? i / W : i / kn, kk = i - r * kn;
        float dd = rd[j], sp = 1.0f, zs = 1.0f, zd = 0.0f;
        if (p.softplus && dd <= 20.0f) {
          sp = sigmoid_f(dd);
          dd = log1pf(__expf(dd));
        }
        if (z) {
          const float sg = sigmoid_f(rz[j]);
          zs = rz[j] * sg;
          zd = sg * (1.0f + rz[j] * (1.0f - sg));
        }
        s_u[r * WP + kk] = ru[j];
        s_dt[r * WP + kk] = dd;
        s_sp[r * WP + kk] = sp;
        s_zs[r * WP + kk] = zs;
        s_zd[r * WP + kk] = zd;
        s_do[r * WP + kk] = ro[j];
      }
    }
    stage_bc<NP, W, true>(Bp, Cp, bc_base, N, L, k0, kn, p.reverse, s_B, s_C);
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
          h[s] = (active && lp * S + s < N) ? p.ckpt[(be * p.n_sub + ks / K) * N + lp * S + s] : 0.0f;
#pragma unroll
        for (int j = 0; j < K; ++j) {
          yv[j] = 0.0f;
          if (j < kc) {
            const int kk = kk0 + j;
            const float dt = s_dt[ch * WP + kk];
            const float dtu = dt * s_u[ch * WP + kk];
            float bv[S], cv[S];
            load_smem_vec<S>(s_B + kk * NP + lp * S, bv);
            load_smem_vec<S>(s_C + kk * NP + lp * S, cv);
            float y = 0.0f;
#pragma unroll
            for (int s = 0; s < S; ++s) {
              hs[j][s] = h[s];
              h[s] = fmaf(exp2f(dt * a2[s]), h[s], dtu * bv[s]);
              y = fmaf(cv[s], h[s], y);
            }
            if (z) yv[j] = team_sum<P>(y);
          }
        }
      }
      // Reverse recurrence over the sub-chunk.
#pragma unroll
      for (int j = K - 1; j >= 0; --j) {
        if (j < kc) {
          const int kk = kk0 + j;
          const float dt = s_dt[ch * WP + kk], uu = s_u[ch * WP + kk];
          const float go = s_do[ch * WP + kk];
          const float dy = go * s_zs[ch * WP + kk];
          float bv[S], cv[S];
          load_smem_vec<S>(s_B + kk * NP + lp * S, bv);
          load_smem_vec<S>(s_C + kk * NP + lp * S, cv);
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
            v[s] = gs * dtu;                          // dB
            v[S + s] = dy * fmaf(dtu, bv[s], xh);     // dC = dy * h
            gh[s] = x * gs;
          }
          ddt = team_sum<P>(ddt);
          dub = team_sum<P>(dub);
          if (lp == 0) {
            const float dd = ddt * s_sp[ch * WP + kk];
            s_du[ch * WP + kk] = fmaf(dub, dt, Dv * dy);
            s_dd[ch * WP + kk] = dd;
            if (z) s_dz[ch * WP + kk] = go * fmaf(Dv, uu, yv[j]) * s_zd[ch * WP + kk];
            dD = fmaf(dy, uu, dD);
            dbias += dd;
          }
          warp_reduce_dbc<S, P>(v, lane, lp, s_red + (warp * K + j) * 2 * NP);
        }
      }
      __syncthreads();
      // Sum the warps' partials in order; one partial per (tile, which, n, t).
      for (int i = tid; i < 2 * NP * K; i += blockDim.x) {
        const int j = i % K, vi = i / K;
        const int which = vi / NP, n = vi - which * NP;
        if (j >= kc || n >= N) continue;
        float acc = 0.0f;
        for (int wi = 0; wi < warps; ++wi) acc += s_red[(wi * K + j) * 2 * NP + vi];
        dBC[(static_cast<int64_t>(which) * N + n) * L + time_of(ks + j, L, p.reverse)] = acc;
      }
      __syncthreads();
    }

    // Write the window's per-step gradients, coalesced.
    T* du = static_cast<T*>(p.du);
    T* ddelta = static_cast<T*>(p.ddelta);
    T* dz = static_cast<T*>(p.dz);
    for (int i = tid; i < CH * kn; i += blockDim.x) {
      const int r = kn == W ? i / W : i / kn, kk = i - r * kn;
      const int ec = tile * CH + r;
      if (ec >= p.Eg) continue;
      const int64_t idx =
          (static_cast<int64_t>(b) * p.E + g * p.Eg + ec) * L + time_of(k0 + kk, L, p.reverse);
      store_f(du, idx, s_du[r * WP + kk]);
      store_f(ddelta, idx, s_dd[r * WP + kk]);
      if (z) store_f(dz, idx, s_dz[r * WP + kk]);
    }
  }

  if (!active) return;
  const int64_t part = (static_cast<int64_t>(b) * p.n_chunks + c) * p.E + e;
#pragma unroll
  for (int s = 0; s < S; ++s) {
    const int n = lp * S + s;
    if (n >= N) continue;
    p.dA_part[part * N + n] = dA[s];
    if (c == 0 && p.dh0) p.dh0[be * N + n] = gh[s];
  }
  if (lp == 0) {
    p.dD_part[part] = dD;
    p.dbias_part[part] = dbias;
  }
}

template <typename T, int S, int P>
cudaError_t launch_bwd(const ScanCudaParams& p, cudaStream_t stream) {
  const int threads = p.channels * P;
  const dim3 grid(p.batch * p.G, p.tiles, p.n_chunks);
  if (p.n_chunks > 1) {
    const size_t smem_l = sizeof(float) * fwd_smem_floats(p.channels, S * P);
    if (smem_l > 48 * 1024)
      cudaFuncSetAttribute(scan_bwd_local_kernel<T, S, P>,
                           cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem_l));
    scan_bwd_local_kernel<T, S, P><<<grid, threads, smem_l, stream>>>(p);
    const int64_t total = static_cast<int64_t>(p.batch) * p.E * p.N;
    scan_bwd_combine_kernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(p);
  }
  const size_t smem = sizeof(float) * bwd_smem_floats(p.channels, S * P, threads / 32);
  if (smem > 48 * 1024)
    cudaFuncSetAttribute(scan_bwd_kernel<T, S, P>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         static_cast<int>(smem));
  scan_bwd_kernel<T, S, P><<<grid, threads, smem, stream>>>(p);
  return cudaGetLastError();
}

template <typename T>
cudaError_t bwd_dispatch_n(const ScanCudaParams& p, cudaStream_t stream) {
  switch (p.lanes) {
    case 1:
      if (p.N == 1) return launch_bwd<T, 1, 1>(p, stream);
      if (p.N <= 4) return launch_bwd<T, 4, 1>(p, stream);
      return launch_bwd<T, 8, 1>(p, stream);
    case 2: return launch_bwd<T, 8, 2>(p, stream);
    case 4: return launch_bwd<T, 8, 4>(p, stream);
    case 8: return launch_bwd<T, 8, 8>(p, stream);
    case 16: return launch_bwd<T, 8, 16>(p, stream);
    default: return launch_bwd<T, 8, 32>(p, stream);
  }
}

}  // namespace detail
}  // namespace mmx::cuda

