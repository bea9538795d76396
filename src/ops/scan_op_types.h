// Torch side of the selective-scan kernel boundary, shared by the entry (selective_scan.cpp) and
// the backends' op registrations (cpu/selective_scan_cpu.cpp, cuda/selective_scan_cuda.cpp):
// the C++ signatures of the dispatcher ops mmx::selective_scan_fwd / _bwd (schemas in
// selective_scan.cpp), adapters from those signatures to backend functions taking ScanTensors,
// and make_scan_params, the one function that turns the tensors of a call into a ScanParams.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <tuple>

#include "ops/scan_params.h"

namespace mmx::detail {

using OptTensor = std::optional<torch::Tensor>;

/// out (batch, E, L) in u's dtype, last_state (batch, E, N) fp32, ckpt (the backend's saved
/// states, fp32; empty when not saved).
using ScanFwdOut = std::tuple<torch::Tensor, torch::Tensor, torch::Tensor>;
/// du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dh0 (undefined for absent optional inputs).
using ScanBwdOut = std::tuple<torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor,
                              torch::Tensor, torch::Tensor, torch::Tensor>;

using ScanFwdFn = ScanFwdOut(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                             const torch::Tensor&, const OptTensor&, const OptTensor&, const OptTensor&,
                             const OptTensor&, bool, bool, bool);
using ScanBwdFn = ScanBwdOut(const torch::Tensor&, const OptTensor&, const torch::Tensor&, const torch::Tensor&,
                             const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const OptTensor&,
                             const OptTensor&, const OptTensor&, const OptTensor&, const torch::Tensor&, bool, bool);

/// The inputs and flags of one call as the dispatcher ops receive them. Shapes and dtypes as in
/// mmx::selective_scan (include/mmx/ops/selective_scan.h); an undefined optional tensor is
/// absent.
struct ScanTensors {
  torch::Tensor u, delta, A, B, C;
  torch::Tensor D, z, delta_bias, h0;
  bool delta_softplus = false;
  bool reverse = false;
};

/// The problem part of ScanParams (sizes, dtype, device, flags, strides), without pointers: what
/// the capability predicate reads. Arguments must be valid (check_selective_scan_args). Throws
/// c10::Error when u's dtype is not float32, bfloat16, float16 or float64.
ScanParams describe_scan(const ScanTensors& t);

/// describe_scan plus the input pointers, for a backend about to launch its kernel. Throws
/// c10::Error ("selective_scan (<device> kernel): <reason>") when no kernel runs the call
/// (scan_kernel_unsupported). The tensors must outlive the use of the pointers.
ScanParams make_scan_params(const ScanTensors& t);

/// Adapts a backend forward `Fwd(tensors, save_ckpt)` to the schema of mmx::selective_scan_fwd.
template <ScanFwdOut (*Fwd)(const ScanTensors&, bool)>
ScanFwdOut fwd_op(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A, const torch::Tensor& B,
                  const torch::Tensor& C, const OptTensor& D, const OptTensor& z, const OptTensor& delta_bias,
                  const OptTensor& h0, bool delta_softplus, bool reverse, bool save_ckpt) {
  auto val = [](const OptTensor& t) { return t ? *t : torch::Tensor(); };
  return Fwd({u, delta, A, B, C, val(D), val(z), val(delta_bias), val(h0), delta_softplus, reverse}, save_ckpt);
}

/// Adapts a backend backward `Bwd(dout, dlast, tensors, ckpt)` (dlast undefined when absent) to
/// the schema of mmx::selective_scan_bwd.
template <ScanBwdOut (*Bwd)(const torch::Tensor&, const torch::Tensor&, const ScanTensors&, const torch::Tensor&)>
ScanBwdOut bwd_op(const torch::Tensor& dout, const OptTensor& dlast, const torch::Tensor& u, const torch::Tensor& delta,
                  const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C, const OptTensor& D,
                  const OptTensor& z, const OptTensor& delta_bias, const OptTensor& h0, const torch::Tensor& ckpt,
                  bool delta_softplus, bool reverse) {
  auto val = [](const OptTensor& t) { return t ? *t : torch::Tensor(); };
  return Bwd(dout, val(dlast), {u, delta, A, B, C, val(D), val(z), val(delta_bias), val(h0), delta_softplus, reverse},
             ckpt);
}

}  // namespace mmx::detail
