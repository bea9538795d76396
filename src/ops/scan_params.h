// The boundary between the selective-scan entry and its fused kernels: one description of a call
// (ScanParams) and one capability predicate (scan_kernel_unsupported), for the CPU kernel
// (src/ops/cpu/) and the CUDA kernels (src/ops/cuda/).
//
// Who fills and who reads (docs/kernels/cuda_scan.md, "The kernel boundary"):
//   * detail::make_scan_params (selective_scan.cpp, the entry) fills the problem part from the
//     tensors: sizes, dtype, device, flags, strides and input pointers. It is the only code that
//     turns tensors into a ScanParams; both backends call it.
//   * Each backend derives its launch struct from ScanParams (cpu::ScanCpuParams,
//     cuda::ScanCudaParams; the pattern of mamba_ssm's SSMParamsBase / SSMParamsBwd in
//     csrc/selective_scan/selective_scan.h), adds its plan and allocates the outputs.
//   * scan_kernel_unsupported says whether a fused kernel runs a described call; the entry uses it
//     to choose kernel or reference, the backends (through make_scan_params) to refuse a call no
//     kernel handles, the tests to state what is covered.
//
// Torch-free plain data and function declarations (no torch types, no std containers, no inline
// function bodies), so that the SIMD translation units of the CPU kernel (whose inline code is
// compiled with their ISA flags) and the nvcc-compiled .cu files include it safely.
#pragma once

#include <cstdint>

namespace mmx::detail {

/// Storage type of u, delta, z, B, C (compute is always fp32 in the kernels). float64 is described
/// so that the predicate can say no to it: no kernel reads it (the reference runs float64 calls).
enum class ScanDType : int { kFloat32 = 0, kBFloat16 = 1, kFloat16 = 2, kFloat64 = 3 };

/// Device of the tensors of a call.
enum class ScanDevice : int { kCpu = 0, kCuda = 1, kOther = 2 };

/// Element strides of a (batch, E, L) tensor.
struct Strides3 {
  int64_t b = 0, e = 0, t = 0;
};
/// Element strides of a (batch, G, N, L) tensor.
struct Strides4 {
  int64_t b = 0, g = 0, n = 0, t = 0;
};

/// One selective-scan call (semantics: include/mmx/ops/selective_scan.h; mamba_ssm's
/// selective_scan_fn). The problem part is filled by detail::make_scan_params; the output part by
/// the backend, whose launch struct derives from this one and adds what only it has (plan,
/// scratch, outputs whose dtype or layout differ between the backends).
struct ScanParams {
  // ---- Problem (make_scan_params) ----
  int64_t batch = 0, E = 0, L = 0, N = 0, G = 1;  ///< G groups share B, C; G divides E
  ScanDType dtype = ScanDType::kFloat32;          ///< of u, delta, z, B, C
  ScanDevice device = ScanDevice::kCpu;
  bool delta_softplus = false;  ///< Delta = softplus(delta + delta_bias), threshold 20
  bool reverse = false;         ///< scan from step L-1 down to 0

  /// Input strides (elements). The CPU kernel reads any strides (channel-last activations need no
  /// copy); the CUDA kernels read contiguous inputs (scan_kernel_reads_strides).
  Strides3 u_st, delta_st, z_st;
  Strides4 B_st, C_st;

  /// Inputs. u, delta, z: (batch, E, L) and B, C: (batch, G, N, L) in `dtype`; A: (E, N),
  /// D, delta_bias: (E), h0: (batch, E, N) in fp32. Optional ones are null when absent. Set only
  /// for calls a kernel runs (the weights of a float64 call are not fp32).
  const void* u = nullptr;
  const void* delta = nullptr;
  const void* z = nullptr;
  const void* B = nullptr;
  const void* C = nullptr;
  const float* A = nullptr;
  const float* D = nullptr;
  const float* delta_bias = nullptr;
  const float* h0 = nullptr;

  // ---- Outputs common to both backends, fp32 (the backend allocates them) ----
  /// Forward: h after the last step, (batch, E, N).
  float* last_state = nullptr;
  /// Forward (when saving for the backward) or backward input: the state before every
  /// checkpoint interval, (batch, E, n_ckpt, N); the interval is the backend's (its plan).
  /// Null in the forward: not saved.
  float* ckpt = nullptr;
  /// Backward input: the gradient of last_state, (batch, E, N), or null.
  const float* dlast = nullptr;
  /// Backward: partial sums of dA (parts, E, N), dD and ddelta_bias (parts, E), over parts that
  /// the backend's plan fixes (batch, or batch x time chunks); the backend adds them over parts
  /// in a fixed order.
  float* dA_part = nullptr;
  float* dD_part = nullptr;
  float* ddelta_bias_part = nullptr;
  /// Backward: the gradient of h0, (batch, E, N), or null.
  float* dh0 = nullptr;
};

/// The capability predicate of the fused kernels: nullptr when the kernel of `p.device` runs the
/// described call, else the reason it does not (a static string). Reads the problem part only.
///
/// What the kernels take, given arguments valid for selective_scan (1 <= N <= kMaxDState, G
/// divides E, shapes and dtypes consistent: check_selective_scan_args):
///   CPU  (src/ops/cpu/):  float32 and bfloat16 inputs, any N, any G, any strides.
///   CUDA (src/ops/cuda/): float32, bfloat16 and float16 inputs; N <= 256 (32 lanes of 8
///        states); fewer than 2^31 elements in u and in B (32-bit sizes and grid); contiguous
///        inputs (the callers copy: scan_kernel_reads_strides); only in builds with nvcc.
///   float64 inputs and other devices: no kernel (the reference).
const char* scan_kernel_unsupported(const ScanParams& p);

/// Layout the kernel of `device` reads: true for any strides (CPU), false for contiguous inputs
/// only (CUDA; the entry and the CUDA backend make copies of non-contiguous inputs).
bool scan_kernel_reads_strides(ScanDevice device);

}  // namespace mmx::detail
