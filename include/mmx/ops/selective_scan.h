// The selective scan (S6) operator: the one operation every MambaMixer layer stands on.
//
// Semantics follow mamba_ssm's `selective_scan_fn` and `selective_scan_ref`
// (mamba_ssm/ops/selective_scan_interface.py): the S6 recurrence that the selective token and
// channel mixers of MambaMixer (arXiv 2403.19888) run, per batch b, channel e, state n and step t
// (g = e / (E / G) is the group of channel e):
//
//   Delta[b,e,t] = softplus(delta[b,e,t] + delta_bias[e])     (softplus and bias optional)
//   h[b,e,n](t)  = exp(Delta[b,e,t] * A[e,n]) * h(t-1) + Delta[b,e,t] * B[b,g,n,t] * u[b,e,t]
//   y[b,e,t]     = sum_n C[b,g,n,t] * h(t) + D[e] * u[b,e,t]
//   out[b,e,t]   = y * silu(z[b,e,t])                          (gate optional)
//
// with h(-1) = h0 (zero when absent). `reverse` runs t from L-1 down to 0 (same equations, h(L)
// is the initial state). The last state is h after the final step, shape (batch, E, N), fp32 (or
// fp64 for fp64 inputs); unlike mamba_ssm its gradient *is* propagated.
//
// Backends: `selective_scan` validates once and picks the fused kernel for the device when the
// capability predicate holds (`scan_kernel_supports`; CPU: fp32/bf16; CUDA: fp32/bf16/fp16), else
// the reference. `selective_scan_ref` is plain LibTorch ops, sequential over L, any float dtype,
// differentiated by autograd: the truth the kernels are tested against.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>
#include <tuple>

namespace mmx {

/// Largest state size N the kernels accept (mamba_ssm's MAX_DSTATE).
inline constexpr int64_t kMaxDState = 256;

/// Flags of the selective scan; every field has the mamba_ssm default.
struct SelectiveScanOptions {
  bool delta_softplus = false;     ///< Delta = softplus(delta + delta_bias) (threshold 20, as mamba_ssm)
  bool reverse = false;            ///< scan from the last step to the first
  bool return_last_state = false;  ///< also return h after the final step (else an undefined tensor)
  /// Training memory: keep only the inputs between forward and backward, not the fused kernel's
  /// saved states (CUDA: the state before every 8th step, batch·E·ceil(L/8)·N fp32, four times
  /// the bytes of a bf16 u at N = 16); the backward reruns the forward to rebuild them. Same
  /// gradients bit for bit, one more forward per backward. No effect on the reference path
  /// (autograd through LibTorch ops) or without autograd. Source: the recompute-in-backward
  /// design of mamba_ssm's fused kernel (csrc/selective_scan/selective_scan_bwd_kernel.cuh),
  /// here optional.
  bool recompute_states = false;
};

/// Optional inputs; an undefined tensor means "absent".
struct SelectiveScanExtras {
  torch::Tensor D;           ///< (E) skip weight, fp32 (fp64 with fp64 inputs)
  torch::Tensor z;           ///< (batch, E, L) gate, same dtype as u
  torch::Tensor delta_bias;  ///< (E) added to delta before the softplus, fp32
  torch::Tensor h0;          ///< (batch, E, N) initial state, fp32
};

/// Output and (when asked) final state of a scan.
struct SelectiveScanResult {
  torch::Tensor out;         ///< (batch, E, L), dtype of u
  torch::Tensor last_state;  ///< (batch, E, N) fp32, or undefined unless return_last_state
};

/// Selective scan with automatic backend choice (fused kernel when supported, else reference).
///
/// Shapes: u, delta: (batch, E, L); A: (E, N); B, C: (batch, G, N, L) with G dividing E.
/// dtypes: u, delta, B, C, z share one of float32 / bfloat16 / float16 / float64; A, D,
/// delta_bias, h0 are float32 (float64 when u is float64). N <= kMaxDState. Any strides.
/// Throws c10::Error naming the argument and the expected shape/dtype on invalid input,
/// including empty tensors. Differentiable in every tensor argument.
/// Source: mamba_ssm `selective_scan_fn` (mamba_ssm/ops/selective_scan_interface.py).
SelectiveScanResult selective_scan(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                                   const torch::Tensor& B, const torch::Tensor& C,
                                   const SelectiveScanExtras& extras = {}, const SelectiveScanOptions& options = {});

/// The reference: same contract as `selective_scan`, plain LibTorch ops, sequential over L.
SelectiveScanResult selective_scan_ref(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                                       const torch::Tensor& B, const torch::Tensor& C,
                                       const SelectiveScanExtras& extras = {},
                                       const SelectiveScanOptions& options = {});

/// Checks every argument once; throws c10::Error ("selective_scan: <arg> ... expected ..., got ...").
void check_selective_scan_args(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                               const torch::Tensor& B, const torch::Tensor& C, const SelectiveScanExtras& extras);

/// Capability predicate: true when `selective_scan` with these arguments runs a fused kernel (for
/// u's device), false when it runs the reference; then `why` (if given) receives the reason.
/// Arguments as for `selective_scan` and valid (see check_selective_scan_args); dtype, device, N
/// and sizes decide (what each kernel takes: src/ops/scan_params.h, scan_kernel_unsupported).
bool scan_kernel_supports(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                          const torch::Tensor& B, const torch::Tensor& C, const SelectiveScanExtras& extras = {},
                          std::string* why = nullptr);

/// Instruction set of the CPU kernel in this process: "avx512", "avx2" or "scalar" (the best the
/// CPU supports, lowered by the environment variable MMX_CPU_ISA=scalar|avx2|avx512).
std::string scan_cpu_isa();

}  // namespace mmx
