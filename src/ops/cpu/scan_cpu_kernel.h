// Fused CPU selective scan, forward and backward, written once over the SIMD vector type of
// vec.h and compiled three times (scan_cpu_avx512.cpp, scan_cpu_avx2.cpp, scan_cpu_scalar.cpp),
// each translation unit with its own ISA flags and namespace. Included only by those files. It
// reads the launch description cpu::ScanCpuParams (scan_cpu.h; float32 or bfloat16 inputs).
//
// Work decomposition. A work item is (batch b, group g, split s): a range of "lane blocks" of W
// consecutive channels of group g (W = SIMD width: 16 AVX-512, 8 AVX2, 1 scalar). The SIMD lanes
// run over *channels*, so B_t[n] and C_t[n] (shared by the group) are broadcasts and the sum over
// n of C*h is a plain vector FMA: no horizontal reduction in the forward. The state h of a lane
// block is N vectors in L1. Steps are processed in chunks of `chunk` steps: the chunk's B, C
// (N x chunk, L-contiguous in memory) are transposed once per item into step-major buffers, and
// the chunk's u, delta, z of a lane block into (step, lane) buffers.
//
// Backward walks the chunks in reverse. For each chunk it recomputes the states from the saved
// chunk-start state (ckpt), keeps (exp(Delta*A), h) for the chunk in scratch, and runs the
// reverse recurrence dh(t-1) = exp(Delta_t A) dh(t) + C_t dy_{t-1}. dB, dC (sums over the group's
// channels) are accumulated lane-wise over all lane blocks of the item and reduced across lanes
// once per chunk; dA, dD, ddelta_bias are accumulated per channel. Nothing of size
// batch x E x L x N is ever stored. All reductions have a fixed order: results are bitwise
// reproducible for a given machine and ISA, whatever the thread count.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "ops/cpu/scan_cpu.h"
#include "ops/cpu/vec.h"

namespace mmx::cpu::MMX_ISA_NS {
namespace {

using detail::ScanDType;

// ---------------------------------------------------------------- scalar helpers
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
// Element i of an input stored as `dt`: float32 or bfloat16, the CPU kernel's dtypes
// (detail::scan_kernel_unsupported; float16 inputs on the CPU run the reference).
inline float load_elem(const void* base, int64_t i, ScanDType dt) {
  if (dt == ScanDType::kFloat32) return static_cast<const float*>(base)[i];
  const uint32_t w = static_cast<uint32_t>(static_cast<const uint16_t*>(base)[i]) << 16;
  float f;
  std::memcpy(&f, &w, 4);
  return f;
}

// Scratch memory from malloc (no std containers: their inline code would be compiled with this
// unit's ISA flags and could be picked by the linker for other units).
struct Scratch {
  float* p = nullptr;
  explicit Scratch(int64_t n) {
    p = static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(((n * 4 + 63) / 64) * 64)));
  }
  ~Scratch() { std::free(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

struct ItemRange {
  int64_t b, g, eb_begin, eb_end;
};
inline ItemRange decode_item(const ScanCpuParams& p, int64_t item, int64_t splits) {
  const int64_t Eg = p.E / p.G;
  const int64_t neb = (Eg + W - 1) / W;
  const int64_t s = item % splits, bg = item / splits;
  const int64_t per = (neb + splits - 1) / splits;
  ItemRange r{bg / p.G, bg % p.G, s * per, (s + 1) * per};
  if (r.eb_end > neb) r.eb_end = neb;
  if (r.eb_begin > r.eb_end) r.eb_begin = r.eb_end;
  return r;
}
// Time index of scan step k.
inline int64_t time_of(const ScanCpuParams& p, int64_t k) { return p.reverse ? p.L - 1 - k : k; }

// B, C of (b, g) for steps [k0, k0 + kn) into step-major buffers BT[k][n], CT[k][n].
inline void load_bc_chunk(const ScanCpuParams& p, int64_t b, int64_t g, int64_t k0, int64_t kn, float* BT, float* CT) {
  const int64_t N = p.N;
  const int64_t bB = b * p.B_st.b + g * p.B_st.g, bC = b * p.C_st.b + g * p.C_st.g;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < kn; ++k) {
      const int64_t t = time_of(p, k0 + k);
      BT[k * N + n] = load_elem(p.B, bB + n * p.B_st.n + t * p.B_st.t, p.dtype);
      CT[k * N + n] = load_elem(p.C, bC + n * p.C_st.n + t * p.C_st.t, p.dtype);
    }
  }
}

// Per-lane-block chunk inputs: u, Delta (after bias and softplus), raw delta' (for the softplus
// derivative), z. Lanes beyond the group's channels are zero (their states stay exactly 0).
struct LaneChunk {
  float* u;
  float* dt;
  float* draw;
  float* z;
};
inline void load_lane_chunk(const ScanCpuParams& p, int64_t b, int64_t e0, int64_t nl, int64_t k0, int64_t kn,
                            LaneChunk c) {
  std::memset(c.u, 0, sizeof(float) * kn * W);
  std::memset(c.dt, 0, sizeof(float) * kn * W);
  std::memset(c.draw, 0, sizeof(float) * kn * W);
  if (p.z) std::memset(c.z, 0, sizeof(float) * kn * W);
  for (int64_t l = 0; l < nl; ++l) {
    const int64_t e = e0 + l;
    const int64_t ru = b * p.u_st.b + e * p.u_st.e, rd = b * p.delta_st.b + e * p.delta_st.e,
                  rz = b * p.z_st.b + e * p.z_st.e;
    const float bias = p.delta_bias ? p.delta_bias[e] : 0.0f;
    for (int64_t k = 0; k < kn; ++k) {
      const int64_t t = time_of(p, k0 + k);
      c.u[k * W + l] = load_elem(p.u, ru + t * p.u_st.t, p.dtype);
      const float d = load_elem(p.delta, rd + t * p.delta_st.t, p.dtype) + bias;
      c.draw[k * W + l] = d;
      if (p.z) c.z[k * W + l] = load_elem(p.z, rz + t * p.z_st.t, p.dtype);
    }
  }
  // Lanes beyond nl get Delta = softplus(0); harmless, their u, A, B-contributions are zero.
  for (int64_t k = 0; k < kn; ++k) {
    const V d = vload(c.draw + k * W);
    vstore(c.dt + k * W, p.delta_softplus ? vsoftplus(d) : d);
  }
}

// A and D of a lane block: Av[n*W + l] = A[e0+l, n], Dv[l] = D[e0+l] (zero beyond nl).
inline void load_lane_params(const ScanCpuParams& p, int64_t e0, int64_t nl, float* Av, float* Dv) {
  std::memset(Av, 0, sizeof(float) * p.N * W);
  std::memset(Dv, 0, sizeof(float) * W);
  for (int64_t l = 0; l < nl; ++l) {
    for (int64_t n = 0; n < p.N; ++n) Av[n * W + l] = p.A[(e0 + l) * p.N + n];
    if (p.D) Dv[l] = p.D[e0 + l];
  }
}

// One chunk of the forward recurrence for a lane block. H (N vectors) holds the state in and
// out. When Xs/Hs are given, exp(Delta*A) and h of every step are kept for the backward.
template <int NT>
inline void scan_chunk(int64_t N_rt, int64_t kn, const float* Av, const float* BT, const float* CT, const LaneChunk& c,
                       float* H, float* Y, float* Xs, float* Hs) {
  const int64_t N = NT > 0 ? NT : N_rt;
  for (int64_t k = 0; k < kn; ++k) {
    const V dt = vload(c.dt + k * W);
    const V du = dt * vload(c.u + k * W);
    V y = vzero();
    const float* Bk = BT + k * N;
    const float* Ck = CT + k * N;
    for (int64_t n = 0; n < N; ++n) {
      const V x = vexp(dt * vload(Av + n * W));
      const V h = vfma(x, vload(H + n * W), du * vset1(Bk[n]));
      vstore(H + n * W, h);
      y = vfma(vset1(Ck[n]), h, y);
      if (Xs) {
        vstore(Xs + (k * N + n) * W, x);
        vstore(Hs + (k * N + n) * W, h);
      }
    }
    vstore(Y + k * W, y);
  }
}

inline int64_t scratch_floats_fwd(const ScanCpuParams& p, int64_t neb) {
  const int64_t K = p.chunk, N = p.N;
  return 2 * K * N + neb * (2 * N * W + W) + 5 * K * W;
}

template <int NT>
void fwd_items(const ScanCpuParams& p, int64_t item_begin, int64_t item_end) {
  const int64_t N = p.N, K = p.chunk, Eg = p.E / p.G, L = p.L;
  const int64_t neb_max = (Eg + W - 1) / W;
  Scratch scratch(scratch_floats_fwd(p, neb_max));
  float* BT = scratch.p;
  float* CT = BT + K * N;
  float* Hall = CT + K * N;
  float* AvAll = Hall + neb_max * N * W;   // neb x N x W: A of each lane block
  float* DvAll = AvAll + neb_max * N * W;  // neb x W
  LaneChunk c{DvAll + neb_max * W, DvAll + neb_max * W + K * W, DvAll + neb_max * W + 2 * K * W,
              DvAll + neb_max * W + 3 * K * W};
  float* Y = DvAll + neb_max * W + 4 * K * W;

  for (int64_t item = item_begin; item < item_end; ++item) {
    const ItemRange r = decode_item(p, item, p.fwd_splits);
    for (int64_t eb = r.eb_begin; eb < r.eb_end; ++eb)
      load_lane_params(p, r.g * Eg + eb * W, imin(W, Eg - eb * W), AvAll + (eb - r.eb_begin) * N * W,
                       DvAll + (eb - r.eb_begin) * W);
    // Initial states.
    for (int64_t eb = r.eb_begin; eb < r.eb_end; ++eb) {
      float* H = Hall + (eb - r.eb_begin) * N * W;
      std::memset(H, 0, sizeof(float) * N * W);
      const int64_t e0 = r.g * Eg + eb * W, nl = imin(W, Eg - eb * W);
      if (p.h0)
        for (int64_t l = 0; l < nl; ++l)
          for (int64_t n = 0; n < N; ++n) H[n * W + l] = p.h0[(r.b * p.E + e0 + l) * N + n];
    }
    for (int64_t ci = 0; ci < p.n_chunks; ++ci) {
      const int64_t k0 = ci * K, kn = imin(K, L - k0);
      load_bc_chunk(p, r.b, r.g, k0, kn, BT, CT);
      for (int64_t eb = r.eb_begin; eb < r.eb_end; ++eb) {
        float* H = Hall + (eb - r.eb_begin) * N * W;
        const int64_t e0 = r.g * Eg + eb * W, nl = imin(W, Eg - eb * W);
        if (p.ckpt)
          for (int64_t l = 0; l < nl; ++l)
            for (int64_t n = 0; n < N; ++n) p.ckpt[((r.b * p.E + e0 + l) * p.n_chunks + ci) * N + n] = H[n * W + l];
        const float* Av = AvAll + (eb - r.eb_begin) * N * W;
        const float* Dv = DvAll + (eb - r.eb_begin) * W;
        load_lane_chunk(p, r.b, e0, nl, k0, kn, c);
        scan_chunk<NT>(N, kn, Av, BT, CT, c, H, Y, nullptr, nullptr);
        const V Dvec = vload(Dv);
        for (int64_t k = 0; k < kn; ++k) {
          V y = vfma(Dvec, vload(c.u + k * W), vload(Y + k * W));
          if (p.z) {
            const V zv = vload(c.z + k * W);
            y = y * zv * vsigmoid(zv);
          }
          vstore(Y + k * W, y);
        }
        for (int64_t l = 0; l < nl; ++l) {
          float* out = p.out + (r.b * p.E + e0 + l) * L;
          for (int64_t k = 0; k < kn; ++k) out[time_of(p, k0 + k)] = Y[k * W + l];
        }
      }
    }
    if (p.last_state)
      for (int64_t eb = r.eb_begin; eb < r.eb_end; ++eb) {
        const float* H = Hall + (eb - r.eb_begin) * N * W;
        const int64_t e0 = r.g * Eg + eb * W, nl = imin(W, Eg - eb * W);
        for (int64_t l = 0; l < nl; ++l)
          for (int64_t n = 0; n < N; ++n) p.last_state[(r.b * p.E + e0 + l) * N + n] = H[n * W + l];
      }
  }
}

inline int64_t scratch_floats_bwd(const ScanCpuParams& p, int64_t neb) {
  const int64_t K = p.chunk, N = p.N;
  return 2 * K * N + 4 * K * N * W + neb * (3 * N * W + 3 * W) + 2 * N * W + 9 * K * W;
}

template <int NT>
void bwd_items(const ScanCpuParams& p, int64_t item_begin, int64_t item_end) {
  const int64_t N = NT > 0 ? NT : p.N;
  const int64_t K = p.chunk, Eg = p.E / p.G, L = p.L;
  const int64_t neb_max = (Eg + W - 1) / W;
  Scratch scratch(scratch_floats_bwd(p, neb_max));
  float* BT = scratch.p;
  float* CT = BT + K * N;
  float* Xs = CT + K * N;
  float* Hs = Xs + K * N * W;
  float* dBacc = Hs + K * N * W;
  float* dCacc = dBacc + K * N * W;
  float* dHall = dCacc + K * N * W;        // neb x N x W: dL/dh carried between chunks
  float* dAall = dHall + neb_max * N * W;  // neb x N x W
  float* dDall = dAall + neb_max * N * W;  // neb x W
  float* dBiasAll = dDall + neb_max * W;   // neb x W
  float* AvAll = dBiasAll + neb_max * W;   // neb x N x W
  float* DvAll = AvAll + neb_max * N * W;  // neb x W
  float* Hstart = DvAll + neb_max * W;
  float* Hrun = Hstart + N * W;
  float* lane0 = Hrun + N * W;
  LaneChunk c{lane0, lane0 + K * W, lane0 + 2 * K * W, lane0 + 3 * K * W};
  float* Y = lane0 + 4 * K * W;
  float* dO = Y + K * W;
  float* dU = dO + K * W;
  float* dDt = dU + K * W;
  float* dZ = dDt + K * W;

  for (int64_t item = item_begin; item < item_end; ++item) {
    const ItemRange r = decode_item(p, item, p.bwd_splits);
    const int64_t split = item % p.bwd_splits;
    for (int64_t eb = r.eb_begin; eb < r.eb_end; ++eb)
      load_lane_params(p, r.g * Eg + eb * W, imin(W, Eg - eb * W), AvAll + (eb - r.eb_begin) * N * W,
                       DvAll + (eb - r.eb_begin) * W);
    const int64_t nbk = r.eb_end - r.eb_begin;
    std::memset(dHall, 0, sizeof(float) * nbk * N * W);
    std::memset(dAall, 0, sizeof(float) * nbk * N * W);
    std::memset(dDall, 0, sizeof(float) * nbk * W);
    std::memset(dBiasAll, 0, sizeof(float) * nbk * W);
    if (p.dlast)
      for (int64_t eb = r.eb_begin; eb < r.eb_end; ++eb) {
        float* dH = dHall + (eb - r.eb_begin) * N * W;
        const int64_t e0 = r.g * Eg + eb * W, nl = imin(W, Eg - eb * W);
        for (int64_t l = 0; l < nl; ++l)
          for (int64_t n = 0; n < N; ++n) dH[n * W + l] = p.dlast[(r.b * p.E + e0 + l) * N + n];
      }
    float* dBout = p.dB + (split * p.batch + r.b) * p.G * N * L + r.g * N * L;
    float* dCout = p.dC + (split * p.batch + r.b) * p.G * N * L + r.g * N * L;

    for (int64_t ci = p.n_chunks - 1; ci >= 0; --ci) {
      const int64_t k0 = ci * K, kn = imin(K, L - k0);
      load_bc_chunk(p, r.b, r.g, k0, kn, BT, CT);
      std::memset(dBacc, 0, sizeof(float) * kn * N * W);
      std::memset(dCacc, 0, sizeof(float) * kn * N * W);
      for (int64_t eb = r.eb_begin; eb < r.eb_end; ++eb) {
        const int64_t j = eb - r.eb_begin;
        const int64_t e0 = r.g * Eg + eb * W, nl = imin(W, Eg - eb * W);
        float* dH = dHall + j * N * W;
        float* dAv = dAall + j * N * W;
        const float* Av = AvAll + j * N * W;
        const float* Dv = DvAll + j * W;
        load_lane_chunk(p, r.b, e0, nl, k0, kn, c);
        std::memset(Hstart, 0, sizeof(float) * N * W);
        std::memset(dO, 0, sizeof(float) * kn * W);
        for (int64_t l = 0; l < nl; ++l) {
          for (int64_t n = 0; n < N; ++n) Hstart[n * W + l] = p.ckpt[((r.b * p.E + e0 + l) * p.n_chunks + ci) * N + n];
          const float* dout = p.dout + (r.b * p.E + e0 + l) * L;
          for (int64_t k = 0; k < kn; ++k) dO[k * W + l] = dout[time_of(p, k0 + k)];
        }
        // Recompute the chunk's states from the saved start state; Xs, Hs keep them.
        std::memcpy(Hrun, Hstart, sizeof(float) * N * W);
        scan_chunk<NT>(N, kn, Av, BT, CT, c, Hrun, Y, Xs, Hs);
        // Gate: out = (y + D u) * silu(z), so dy = dout * silu(z), dz = dout * y * silu'(z).
        const V Dvec = vload(Dv);
        if (p.z) {
          for (int64_t k = 0; k < kn; ++k) vstore(Y + k * W, vfma(Dvec, vload(c.u + k * W), vload(Y + k * W)));
          for (int64_t k = 0; k < kn; ++k) {
            const V zv = vload(c.z + k * W), sg = vsigmoid(zv), go = vload(dO + k * W);
            vstore(dZ + k * W, go * vload(Y + k * W) * sg * vfma(zv, vset1(1.0f) - sg, vset1(1.0f)));
            vstore(dO + k * W, go * zv * sg);
          }
        }
        // Reverse recurrence over the chunk.
        V dD = vload(dDall + j * W);
        for (int64_t k = kn - 1; k >= 0; --k) {
          const V dt = vload(c.dt + k * W);
          const V u = vload(c.u + k * W);
          const V dy = vload(dO + k * W);
          const V dtu = dt * u;
          V ddt = vzero();
          V duv = Dvec * dy;
          dD = vfma(dy, u, dD);
          const float* Bk = BT + k * N;
          const float* Ck = CT + k * N;
          const float* Hprev = k > 0 ? Hs + (k - 1) * N * W : Hstart;
          for (int64_t n = 0; n < N; ++n) {
            const V Bn = vset1(Bk[n]);
            const V dh = vfma(dy, vset1(Ck[n]), vload(dH + n * W));
            const V x = vload(Xs + (k * N + n) * W);
            const V xh = x * vload(Hprev + n * W);
            const V An = vload(Av + n * W);
            vstore(dCacc + (k * N + n) * W, vfma(dy, vload(Hs + (k * N + n) * W), vload(dCacc + (k * N + n) * W)));
            vstore(dBacc + (k * N + n) * W, vfma(dh, dtu, vload(dBacc + (k * N + n) * W)));
            ddt = vfma(dh, vfma(An, xh, Bn * u), ddt);
            vstore(dAv + n * W, vfma(dh * xh, dt, vload(dAv + n * W)));
            duv = vfma(dh * dt, Bn, duv);
            vstore(dH + n * W, x * dh);
          }
          vstore(dU + k * W, duv);
          vstore(dDt + k * W, ddt);
        }
        vstore(dDall + j * W, dD);
        // Softplus derivative (sigmoid(x) rounds to 1 above the threshold 20), bias gradient,
        // and scatter back to (b, e, t).
        if (p.delta_softplus)
          for (int64_t k = 0; k < kn; ++k) vstore(dDt + k * W, vload(dDt + k * W) * vsigmoid(vload(c.draw + k * W)));
        for (int64_t l = 0; l < nl; ++l) {
          const int64_t row = (r.b * p.E + e0 + l) * L;
          float bias_acc = 0.0f;
          for (int64_t k = 0; k < kn; ++k) {
            const int64_t t = time_of(p, k0 + k);
            const float g = dDt[k * W + l];
            bias_acc += g;
            p.du[row + t] = dU[k * W + l];
            p.ddelta[row + t] = g;
            if (p.z) p.dz[row + t] = dZ[k * W + l];
          }
          dBiasAll[j * W + l] += bias_acc;
        }
      }
      // dB, dC of this chunk: reduce the lanes once for all lane blocks of the item.
      for (int64_t k = 0; k < kn; ++k) {
        const int64_t t = time_of(p, k0 + k);
        for (int64_t n = 0; n < N; ++n) {
          dBout[n * L + t] = vsum(vload(dBacc + (k * N + n) * W));
          dCout[n * L + t] = vsum(vload(dCacc + (k * N + n) * W));
        }
      }
    }
    // Per-channel results.
    for (int64_t eb = r.eb_begin; eb < r.eb_end; ++eb) {
      const int64_t j = eb - r.eb_begin;
      const int64_t e0 = r.g * Eg + eb * W, nl = imin(W, Eg - eb * W);
      for (int64_t l = 0; l < nl; ++l) {
        const int64_t be = r.b * p.E + e0 + l;
        for (int64_t n = 0; n < N; ++n) {
          p.dA_part[be * N + n] = dAall[(j * N + n) * W + l];
          if (p.dh0) p.dh0[be * N + n] = dHall[(j * N + n) * W + l];
        }
        p.dD_part[be] = dDall[j * W + l];
        p.ddelta_bias_part[be] = dBiasAll[j * W + l];
      }
    }
  }
}

}  // namespace

// Entry points of this ISA (declared in scan_cpu.h).
void scan_fwd_items(const ScanCpuParams& p, int64_t item_begin, int64_t item_end) {
  if (p.N == 16)
    fwd_items<16>(p, item_begin, item_end);
  else
    fwd_items<0>(p, item_begin, item_end);
}
void scan_bwd_items(const ScanCpuParams& p, int64_t item_begin, int64_t item_end) {
  if (p.N == 16)
    bwd_items<16>(p, item_begin, item_end);
  else
    bwd_items<0>(p, item_begin, item_end);
}
int scan_simd_width() { return W; }

}  // namespace mmx::cpu::MMX_ISA_NS
