// What every selective-scan kernel (scan_fwd_cuda.cuh, scan_bwd_cuda.cuh) does around its time
// recurrence, written once: the prologue that places a thread in the grid (Site), loads and
// stores of a thread's S states, and the coalesced staging of per-channel rows of a time window
// into shared memory and back. Everything is force-inlined into the kernels.
#pragma once

#include "ops/cuda/scan_cuda_common.cuh"

namespace mmx::cuda::detail {

/// The thread's place in the grid (mapping: scan_fwd_cuda.cuh). Grid = (batch*G, channel tiles,
/// time chunks); a block holds p.channels channels of one (batch, group), P adjacent threads
/// (lanes) per channel, each lane S consecutive states n = lp*S .. lp*S+S-1. The sizes are not
/// copied here: the kernels read them from p.dims (32-bit) at each use, which ptxas turns into
/// constant-bank operands; register copies of them made the kernels at their register cap spill
/// (measured with ptxas -v).
struct Site {
  int tid, lp, ch;  ///< thread in the block, its lane in the channel, its channel in the block
  int bg, tile, c;  ///< the block's (batch, group) index, channel tile and time chunk
  int b, g;         ///< batch element and group
  bool active;      ///< the channel exists (the group's last tile may be partial)
  int e;            ///< channel (0 for inactive threads, so that their loads stay in bounds)
  int64_t be;       ///< row (b, e) of (batch, E, ...) tensors
};

/// The kernel prologue: the Site of this thread for P lanes per channel.
template <int P>
__device__ __forceinline__ Site thread_site(const ScanCudaParams& p) {
  Site t;
  t.tid = threadIdx.x;
  t.lp = t.tid % P;
  t.ch = t.tid / P;
  t.bg = blockIdx.x;
  t.tile = blockIdx.y;
  t.c = blockIdx.z;
  t.b = t.bg / p.dims.G;
  t.g = t.bg % p.dims.G;
  const int ech = t.tile * p.channels + t.ch;
  t.active = ech < p.dims.Eg;
  t.e = t.g * p.dims.Eg + (t.active ? ech : 0);
  t.be = static_cast<int64_t>(t.b) * p.dims.E + t.e;
  return t;
}

// The block's time chunk and its offset in B and C are not Site fields: the kernels compute them
// after setting up their states. Computed in the prologue, they tipped the backward kernel (at
// its 168-register cap) into spills for some (S, P) (ptxas -v).

/// Steps [begin, end) of the block's time chunk.
struct StepRange {
  int begin, end;
};
__device__ __forceinline__ StepRange chunk_steps(const ScanCudaParams& p, const Site& t) {
  const int kb = t.c * p.chunk;
  return {kb, min(p.dims.L, kb + p.chunk)};
}

/// Offset of the block's (b, g) in B and C, (batch, G, N, L).
__device__ __forceinline__ int64_t bc_offset(const ScanCudaParams& p, const Site& t) {
  return static_cast<int64_t>(t.bg) * p.dims.N * p.dims.L;
}

/// The inputs of a call, typed as their storage type T.
template <typename T>
struct TypedInputs {
  const T *u, *delta, *z, *dout, *B, *C;
};
template <typename T>
__device__ __forceinline__ TypedInputs<T> typed_inputs(const ScanCudaParams& p) {
  return {static_cast<const T*>(p.u),    static_cast<const T*>(p.delta), static_cast<const T*>(p.z),
          static_cast<const T*>(p.dout), static_cast<const T*>(p.B),     static_cast<const T*>(p.C)};
}

/// v[s] = row[lp*S + s] for the thread's states that exist (active channel, n < N), else 0.
/// `row` points at state 0 of a (.., N) row; it must be valid (also for inactive threads).
template <int S>
__device__ __forceinline__ void load_states(const ScanCudaParams& p, const Site& t, const float* row, float (&v)[S]) {
#pragma unroll
  for (int s = 0; s < S; ++s) {
    const int n = t.lp * S + s;
    v[s] = (t.active && n < p.dims.N) ? row[n] : 0.0f;
  }
}

/// A[e, n] for the thread's states (0 where a state does not exist).
template <int S>
__device__ __forceinline__ void load_A(const ScanCudaParams& p, const Site& t, float (&a)[S]) {
  load_states<S>(p, t, p.A + static_cast<int64_t>(t.e) * p.dims.N, a);
}

/// A[e, n] log2(e) for the thread's states (0 where a state does not exist): the kernels take
/// exp(Delta A) as exp2(Delta * A log2(e)).
template <int S>
__device__ __forceinline__ void load_A_log2e(const ScanCudaParams& p, const Site& t, float (&a2)[S]) {
  load_A<S>(p, t, a2);
#pragma unroll
  for (int s = 0; s < S; ++s) a2[s] *= kLog2e;
}

/// row[lp*S + s] = v[s] for the thread's states n < N (the caller checks that the channel is
/// active).
template <int S>
__device__ __forceinline__ void store_states(const ScanCudaParams& p, const Site& t, float* row, const float (&v)[S]) {
#pragma unroll
  for (int s = 0; s < S; ++s)
    if (t.lp * S + s < p.dims.N) row[t.lp * S + s] = v[s];
}

/// Result of a chunk-local pass (forward: the end state from a zero start; backward: the
/// gradient leaving the chunk start from a zero end gradient) and the chunk's sum of Delta, for
/// the combine kernel. Active channels only.
template <int S>
__device__ __forceinline__ void store_chunk_local(const ScanCudaParams& p, const Site& t, const float (&h)[S],
                                                  float dsum) {
  store_states<S>(p, t, p.chunk_h + (t.be * p.n_chunks + t.c) * p.dims.N, h);
  if (t.lp == 0) p.chunk_dsum[t.be * p.n_chunks + t.c] = dsum;
}

/// Calls body(k0, kn) for the windows [k0, k0 + kn) of W steps of `steps`, the last window first
/// (the backward passes), after a barrier each (the previous window's readers of shared memory
/// are done).
template <int W, typename Body>
__device__ __forceinline__ void for_windows_reversed(StepRange steps, Body&& body) {
  const int n_win = (steps.end - steps.begin + W - 1) / W;
  for (int w = n_win - 1; w >= 0; --w) {
    const int k0 = steps.begin + w * W, kn = min(W, steps.end - k0);
    __syncthreads();
    body(k0, kn);
  }
}

/// Stages per-channel rows of a time window into shared memory, coalesced: for every channel r
/// of the block's tile and step kk of [k0, k0 + kn), `load(idx, e, v)` reads the NV values of
/// element idx of the (batch, E, L) tensors (channel e, step time_of(k0 + kk)) into registers v,
/// and `store(r * (W + 1) + kk, v)` writes them (rows padded to W + 1 floats against bank
/// conflicts). Each thread issues the loads of up to kMaxBatch elements (of its share of
/// ceil(W / P) per channel) before it stores any of them (other resident blocks compute
/// meanwhile); v stays zero for channels beyond the group.
template <int W, int P, int kMaxBatch, int NV, typename Load, typename Store>
__device__ __forceinline__ void stage_rows(const ScanCudaParams& p, const Site& t, int k0, int kn, Load&& load,
                                           Store&& store) {
  constexpr int CNT = (W + P - 1) / P;  // per-channel elements per thread
  constexpr int BATCH = CNT < kMaxBatch ? CNT : kMaxBatch;
#pragma unroll 1
  for (int i0 = 0; i0 < p.channels * kn; i0 += BATCH * blockDim.x) {
    float v[BATCH][NV];
#pragma unroll
    for (int j = 0; j < BATCH; ++j) {
      const int i = i0 + t.tid + j * blockDim.x;
      const int r = kn == W ? i / W : i / kn, kk = i - r * kn;
      const int ec = t.tile * p.channels + r;
#pragma unroll
      for (int q = 0; q < NV; ++q) v[j][q] = 0.0f;
      if (i < p.channels * kn && ec < p.dims.Eg) {
        const int e2 = t.g * p.dims.Eg + ec;
        load((static_cast<int64_t>(t.b) * p.dims.E + e2) * p.dims.L + time_of(k0 + kk, p.dims.L, p.reverse), e2, v[j]);
      }
    }
#pragma unroll
    for (int j = 0; j < BATCH; ++j) {
      const int i = i0 + t.tid + j * blockDim.x;
      if (i >= p.channels * kn) break;
      const int r = kn == W ? i / W : i / kn, kk = i - r * kn;
      store(r * (W + 1) + kk, v[j]);
    }
  }
}

/// Writes per-channel rows of a time window back, coalesced: `store(idx, r * (W + 1) + kk)` for
/// every channel r of the tile within the group and step kk, idx as in stage_rows.
template <int W, typename Store>
__device__ __forceinline__ void write_rows(const ScanCudaParams& p, const Site& t, int k0, int kn, Store&& store) {
  for (int i = t.tid; i < p.channels * kn; i += blockDim.x) {
    const int r = kn == W ? i / W : i / kn, kk = i - r * kn;
    const int ec = t.tile * p.channels + r;
    if (ec >= p.dims.Eg) continue;
    const int64_t idx = (static_cast<int64_t>(t.b) * p.dims.E + t.g * p.dims.Eg + ec) * p.dims.L +
                        time_of(k0 + kk, p.dims.L, p.reverse);
    store(idx, r * (W + 1) + kk);
  }
}

}  // namespace mmx::cuda::detail
