// Raw-pointer description of one selective-scan call, shared by the CPU and CUDA kernels.
// Built once by the entry (selective_scan.cpp) from validated, contiguous tensors; kernels never
// see torch types, so the SIMD translation units can be compiled with ISA flags safely.
#pragma once

#include <cstdint>

namespace mmx::detail {

/// Storage type of u, delta, z, B, C, dout (compute is always fp32).
enum class ScanDType : int { kFloat32 = 0, kBFloat16 = 1, kFloat16 = 2 };

/// Element strides of a (batch, E, L) tensor.
struct Strides3 {
  int64_t b = 0, e = 0, t = 0;
};
/// Element strides of a (batch, G, N, L) tensor.
struct Strides4 {
  int64_t b = 0, g = 0, n = 0, t = 0;
};

struct ScanParams {
  int64_t batch = 0, E = 0, L = 0, N = 0, G = 1;
  int64_t chunk = 64;     ///< steps between saved states (backward recomputes inside a chunk)
  int64_t n_chunks = 1;   ///< ceil(L / chunk)
  ScanDType dtype = ScanDType::kFloat32;
  bool delta_softplus = false;
  bool reverse = false;

  // Input strides (elements). The CUDA kernels take contiguous inputs (the default strides); the
  // CPU kernel reads any strides, so channel-last activations need no copy.
  Strides3 u_st, delta_st, z_st;
  Strides4 B_st, C_st;

  // Inputs. u, delta, z: (batch, E, L); B, C: (batch, G, N, L) in `dtype` (strides above);
  // A: (E, N), D, delta_bias: (E), h0: (batch, E, N) in fp32. Optional ones may be null.
  const void* u = nullptr;
  const void* delta = nullptr;
  const void* z = nullptr;
  const void* B = nullptr;
  const void* C = nullptr;
  const float* A = nullptr;
  const float* D = nullptr;
  const float* delta_bias = nullptr;
  const float* h0 = nullptr;

  // Forward outputs (fp32): out (batch, E, L); last_state (batch, E, N);
  // ckpt (batch, E, n_chunks, N) = state *before* each chunk (null: not saved).
  float* out = nullptr;
  float* last_state = nullptr;
  float* ckpt = nullptr;

  // Backward inputs: dout (batch, E, L) in `dtype` ... stored as fp32 here; dlast (batch, E, N).
  const float* dout = nullptr;
  const float* dlast = nullptr;
  // Backward outputs (fp32). du, ddelta, dz: (batch, E, L); dB, dC: (splits, batch, G, N, L);
  // dA_part: (batch, E, N), dD_part, ddelta_bias_part: (batch, E) (summed over batch by the
  // caller, in a fixed order); dh0: (batch, E, N).
  float* du = nullptr;
  float* ddelta = nullptr;
  float* dz = nullptr;
  float* dB = nullptr;
  float* dC = nullptr;
  float* dA_part = nullptr;
  float* dD_part = nullptr;
  float* ddelta_bias_part = nullptr;
  float* dh0 = nullptr;
  int64_t bwd_splits = 1;  ///< channel blocks of one (batch, group) split over this many work items
  int64_t fwd_splits = 1;
};

}  // namespace mmx::detail
