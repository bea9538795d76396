// Entry of the selective scan: validation (once), backend choice, the autograd Function around the
// fused kernels, and the TORCH_LIBRARY schema so the same shared library loads from Python
// (torch.ops.load_library("libmmx.so"); torch.ops.mmx.selective_scan(...)).
//
// Dispatcher ops:
//   mmx::selective_scan       CompositeImplicitAutograd: this file's entry (kernel or reference)
//   mmx::selective_scan_ref   CompositeImplicitAutograd: the reference
//   mmx::selective_scan_fwd   per device (CPU: cpu/selective_scan_cpu.cpp, CUDA: cuda/)
//   mmx::selective_scan_bwd   per device
#include "mmx/ops/selective_scan.h"

#include <torch/library.h>

#include <sstream>

#include "ops/scan_op_types.h"

namespace mmx {
namespace {

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

bool is_io_dtype(torch::ScalarType t) {
  return t == torch::kFloat32 || t == torch::kBFloat16 || t == torch::kFloat16 || t == torch::kFloat64;
}

void check_optional(const torch::Tensor& t, const char* name, at::IntArrayRef shape, const char* shape_desc,
                    torch::ScalarType dtype, const torch::Tensor& u) {
  if (!t.defined()) return;
  TORCH_CHECK(t.sizes() == shape, "selective_scan: ", name, " must have shape ", shape_desc, " = ", shape, ", got ",
              shape_str(t));
  TORCH_CHECK(t.scalar_type() == dtype, "selective_scan: ", name, " must have dtype ", dtype, ", got ",
              t.scalar_type());
  TORCH_CHECK(t.device() == u.device(), "selective_scan: ", name, " is on ", t.device(), " but u is on ", u.device());
}

}  // namespace

void check_selective_scan_args(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                               const torch::Tensor& B, const torch::Tensor& C, const SelectiveScanExtras& ex) {
  TORCH_CHECK(u.defined() && delta.defined() && A.defined() && B.defined() && C.defined(),
              "selective_scan: u, delta, A, B and C are required");
  TORCH_CHECK(u.dim() == 3, "selective_scan: u must have shape (batch, E, L), got ", shape_str(u));
  const int64_t batch = u.size(0), E = u.size(1), L = u.size(2);
  TORCH_CHECK(batch > 0 && E > 0 && L > 0, "selective_scan: u must not be empty, got shape ", shape_str(u));
  TORCH_CHECK(is_io_dtype(u.scalar_type()), "selective_scan: u must be float32, bfloat16, float16 or float64, got ",
              u.scalar_type());
  TORCH_CHECK(delta.sizes() == u.sizes(), "selective_scan: delta must have the shape of u ", u.sizes(), ", got ",
              shape_str(delta));
  TORCH_CHECK(A.dim() == 2 && A.size(0) == E, "selective_scan: A must have shape (E, N) with E = ", E, ", got ",
              shape_str(A));
  const int64_t N = A.size(1);
  TORCH_CHECK(N >= 1 && N <= kMaxDState, "selective_scan: A's state size N must be in [1, ", kMaxDState,
              "], got N = ", N);
  TORCH_CHECK(B.dim() == 4 && B.size(0) == batch && B.size(2) == N && B.size(3) == L,
              "selective_scan: B must have shape (batch, G, N, L) = (", batch, ", G, ", N, ", ", L, "), got ",
              shape_str(B));
  const int64_t G = B.size(1);
  TORCH_CHECK(G >= 1 && E % G == 0, "selective_scan: the group count G = B.size(1) = ", G, " must divide E = ", E);
  TORCH_CHECK(C.sizes() == B.sizes(), "selective_scan: C must have the shape of B ", B.sizes(), ", got ", shape_str(C));
  const auto io = u.scalar_type();
  const auto wt = io == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  for (const auto& [t, name] : {std::pair{&delta, "delta"}, std::pair{&B, "B"}, std::pair{&C, "C"}}) {
    TORCH_CHECK(t->scalar_type() == io, "selective_scan: ", name, " must have u's dtype ", io, ", got ",
                t->scalar_type());
    TORCH_CHECK(t->device() == u.device(), "selective_scan: ", name, " is on ", t->device(), " but u is on ",
                u.device());
  }
  TORCH_CHECK(A.scalar_type() == wt, "selective_scan: A must have dtype ", wt, ", got ", A.scalar_type());
  TORCH_CHECK(A.device() == u.device(), "selective_scan: A is on ", A.device(), " but u is on ", u.device());
  check_optional(ex.D, "D", {E}, "(E)", wt, u);
  check_optional(ex.delta_bias, "delta_bias", {E}, "(E)", wt, u);
  check_optional(ex.z, "z", u.sizes(), "(batch, E, L)", io, u);
  check_optional(ex.h0, "h0", {batch, E, N}, "(batch, E, N)", wt, u);
}

bool scan_kernel_supports(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                          const torch::Tensor& B, const torch::Tensor& C, const SelectiveScanExtras& ex,
                          std::string* why) {
  const detail::ScanParams p = detail::describe_scan({u, delta, A, B, C, ex.D, ex.z, ex.delta_bias, ex.h0});
  const char* no = detail::scan_kernel_unsupported(p);
  if (no && why) {
    *why = no;
    if (p.device == detail::ScanDevice::kOther) *why += " (" + u.device().str() + ")";
  }
  return no == nullptr;
}

namespace detail {
namespace {

ScanDType scan_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32:
      return ScanDType::kFloat32;
    case torch::kBFloat16:
      return ScanDType::kBFloat16;
    case torch::kFloat16:
      return ScanDType::kFloat16;
    case torch::kFloat64:
      return ScanDType::kFloat64;
    default:
      break;
  }
  TORCH_CHECK(false, "selective_scan: u must be float32, bfloat16, float16 or float64, got ", t);
}

ScanDevice scan_device(const torch::Device& d) {
  return d.is_cpu() ? ScanDevice::kCpu : (d.is_cuda() ? ScanDevice::kCuda : ScanDevice::kOther);
}

Strides3 strides3(const torch::Tensor& t) { return {t.stride(0), t.stride(1), t.stride(2)}; }
Strides4 strides4(const torch::Tensor& t) { return {t.stride(0), t.stride(1), t.stride(2), t.stride(3)}; }
const float* fptr(const torch::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

}  // namespace

ScanParams describe_scan(const ScanTensors& t) {
  ScanParams p;
  p.batch = t.u.size(0);
  p.E = t.u.size(1);
  p.L = t.u.size(2);
  p.N = t.A.size(1);
  p.G = t.B.size(1);
  p.dtype = scan_dtype(t.u.scalar_type());
  p.device = scan_device(t.u.device());
  p.delta_softplus = t.delta_softplus;
  p.reverse = t.reverse;
  p.u_st = strides3(t.u);
  p.delta_st = strides3(t.delta);
  if (t.z.defined()) p.z_st = strides3(t.z);
  p.B_st = strides4(t.B);
  p.C_st = strides4(t.C);
  return p;
}

ScanParams make_scan_params(const ScanTensors& t) {
  ScanParams p = describe_scan(t);
  const char* no = scan_kernel_unsupported(p);
  TORCH_CHECK(no == nullptr, "selective_scan (", c10::DeviceTypeName(t.u.device().type()), " kernel): ", no,
              "; got u of dtype ", t.u.scalar_type(), " and shape ", shape_str(t.u));
  p.u = t.u.data_ptr();
  p.delta = t.delta.data_ptr();
  p.z = t.z.defined() ? t.z.data_ptr() : nullptr;
  p.B = t.B.data_ptr();
  p.C = t.C.data_ptr();
  p.A = t.A.data_ptr<float>();
  p.D = fptr(t.D);
  p.delta_bias = fptr(t.delta_bias);
  p.h0 = fptr(t.h0);
  return p;
}

}  // namespace detail

namespace {

torch::Tensor opt_contig(const torch::Tensor& t) { return t.defined() ? t.contiguous() : t; }
// Absent optional inputs travel through the autograd Function as empty placeholders (it cannot
// take undefined tensors); numel() == 0 means absent (valid inputs are never empty).
std::optional<torch::Tensor> as_opt(const torch::Tensor& t) {
  return t.defined() && t.numel() > 0 ? std::optional<torch::Tensor>(t) : std::nullopt;
}
torch::Tensor placeholder_if_absent(const torch::Tensor& t, const torch::Tensor& like) {
  return t.defined() ? t : torch::empty({0}, like.options().dtype(torch::kFloat32));
}

using FwdFn = detail::ScanFwdFn;
using BwdFn = detail::ScanBwdFn;

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> call_fwd(const torch::Tensor& u, const torch::Tensor& delta,
                                                                 const torch::Tensor& A, const torch::Tensor& B,
                                                                 const torch::Tensor& C, const SelectiveScanExtras& ex,
                                                                 bool softplus, bool reverse, bool save_ckpt) {
  static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("mmx::selective_scan_fwd", "").typed<FwdFn>();
  return op.call(u, delta, A, B, C, as_opt(ex.D), as_opt(ex.z), as_opt(ex.delta_bias), as_opt(ex.h0), softplus, reverse,
                 save_ckpt);
}

// Autograd wrapper around the fused forward/backward pair. Saves the inputs and the kernel's
// saved states (ckpt), or with `recompute` only the inputs, rebuilding ckpt in the backward.
struct SelectiveScanFunction : public torch::autograd::Function<SelectiveScanFunction> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, torch::Tensor u,
                                                torch::Tensor delta, torch::Tensor A, torch::Tensor B, torch::Tensor C,
                                                torch::Tensor D, torch::Tensor z, torch::Tensor delta_bias,
                                                torch::Tensor h0, bool softplus, bool reverse, bool recompute) {
    SelectiveScanExtras ex{D, z, delta_bias, h0};
    auto [out, last, ckpt] = call_fwd(u, delta, A, B, C, ex, softplus, reverse, !recompute);
    ctx->save_for_backward({u, delta, A, B, C, D, z, delta_bias, h0, recompute ? torch::Tensor() : ckpt});
    ctx->saved_data["softplus"] = softplus;
    ctx->saved_data["reverse"] = reverse;
    ctx->saved_data["recompute"] = recompute;
    return {out, last};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto s = ctx->get_saved_variables();
    static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("mmx::selective_scan_bwd", "").typed<BwdFn>();
    torch::Tensor dout = grads[0].defined() ? grads[0].contiguous() : torch::zeros_like(s[0]);
    std::optional<torch::Tensor> dlast;
    if (grads[1].defined()) dlast = grads[1].contiguous();
    const bool softplus = ctx->saved_data["softplus"].toBool();
    const bool reverse = ctx->saved_data["reverse"].toBool();
    torch::Tensor ckpt = s[9];
    if (ctx->saved_data["recompute"].toBool()) {
      torch::NoGradGuard no_grad;
      ckpt = std::get<2>(call_fwd(s[0], s[1], s[2], s[3], s[4], {s[5], s[6], s[7], s[8]}, softplus, reverse, true));
    }
    auto [du, ddelta, dA, dB, dC, dD, dz, dbias, dh0] =
        op.call(dout, dlast, s[0], s[1], s[2], s[3], s[4], as_opt(s[5]), as_opt(s[6]), as_opt(s[7]), as_opt(s[8]), ckpt,
                softplus, reverse);
    // No gradients for the flags softplus, reverse, recompute.
    return {du, ddelta, dA, dB, dC, dD, dz, dbias, dh0, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

SelectiveScanResult selective_scan(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                                   const torch::Tensor& B, const torch::Tensor& C, const SelectiveScanExtras& extras,
                                   const SelectiveScanOptions& options) {
  check_selective_scan_args(u, delta, A, B, C, extras);
  const detail::ScanParams call =
      detail::describe_scan({u, delta, A, B, C, extras.D, extras.z, extras.delta_bias, extras.h0});
  if (detail::scan_kernel_unsupported(call)) return selective_scan_ref(u, delta, A, B, C, extras, options);
  // The CPU kernel reads any strides (no copies of channel-last activations); the CUDA kernels
  // take contiguous inputs.
  const bool contig = !detail::scan_kernel_reads_strides(call.device);
  auto act = [&](const torch::Tensor& t) { return contig && t.defined() ? t.contiguous() : t; };
  SelectiveScanExtras ex{opt_contig(extras.D), act(extras.z), opt_contig(extras.delta_bias), opt_contig(extras.h0)};
  SelectiveScanResult r;
  const bool needs_grad =
      torch::GradMode::is_enabled() &&
      (u.requires_grad() || delta.requires_grad() || A.requires_grad() || B.requires_grad() || C.requires_grad() ||
       (ex.D.defined() && ex.D.requires_grad()) || (ex.z.defined() && ex.z.requires_grad()) ||
       (ex.delta_bias.defined() && ex.delta_bias.requires_grad()) || (ex.h0.defined() && ex.h0.requires_grad()));
  if (needs_grad) {
    auto outs = SelectiveScanFunction::apply(act(u), act(delta), A.contiguous(), act(B), act(C),
                                             placeholder_if_absent(ex.D, u), placeholder_if_absent(ex.z, u),
                                             placeholder_if_absent(ex.delta_bias, u), placeholder_if_absent(ex.h0, u),
                                             options.delta_softplus, options.reverse, options.recompute_states);
    r.out = outs[0];
    if (options.return_last_state) r.last_state = outs[1];
  } else {
    auto [out, last, ckpt] = call_fwd(act(u), act(delta), A.contiguous(), act(B), act(C), ex, options.delta_softplus,
                                      options.reverse, false);
    r.out = out;
    if (options.return_last_state) r.last_state = last;
  }
  return r;
}

namespace {

// Dispatcher-facing wrappers (schema arguments -> C++ API).
using OptT = std::optional<torch::Tensor>;
SelectiveScanExtras extras_of(const OptT& D, const OptT& z, const OptT& bias, const OptT& h0) {
  return {D.value_or(torch::Tensor()), z.value_or(torch::Tensor()), bias.value_or(torch::Tensor()),
          h0.value_or(torch::Tensor())};
}
std::tuple<torch::Tensor, torch::Tensor> op_scan(const torch::Tensor& u, const torch::Tensor& delta,
                                                 const torch::Tensor& A, const torch::Tensor& B, const torch::Tensor& C,
                                                 const OptT& D, const OptT& z, const OptT& bias, const OptT& h0,
                                                 bool softplus, bool reverse, bool last) {
  auto r = selective_scan(u, delta, A, B, C, extras_of(D, z, bias, h0), {softplus, reverse, last});
  return {r.out, r.last_state};
}
std::tuple<torch::Tensor, torch::Tensor> op_scan_ref(const torch::Tensor& u, const torch::Tensor& delta,
                                                     const torch::Tensor& A, const torch::Tensor& B,
                                                     const torch::Tensor& C, const OptT& D, const OptT& z,
                                                     const OptT& bias, const OptT& h0, bool softplus, bool reverse,
                                                     bool last) {
  auto r = selective_scan_ref(u, delta, A, B, C, extras_of(D, z, bias, h0), {softplus, reverse, last});
  return {r.out, r.last_state};
}

}  // namespace
}  // namespace mmx

TORCH_LIBRARY(mmx, m) {
  m.def(
      "selective_scan(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D=None, "
      "Tensor? z=None, Tensor? delta_bias=None, Tensor? h0=None, bool delta_softplus=False, "
      "bool reverse=False, bool return_last_state=False) -> (Tensor, Tensor)");
  m.def(
      "selective_scan_ref(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D=None, "
      "Tensor? z=None, Tensor? delta_bias=None, Tensor? h0=None, bool delta_softplus=False, "
      "bool reverse=False, bool return_last_state=False) -> (Tensor, Tensor)");
  m.def(
      "selective_scan_fwd(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D, "
      "Tensor? z, Tensor? delta_bias, Tensor? h0, bool delta_softplus, bool reverse, "
      "bool save_ckpt) -> (Tensor out, Tensor last_state, Tensor ckpt)");
  m.def(
      "selective_scan_bwd(Tensor dout, Tensor? dlast, Tensor u, Tensor delta, Tensor A, Tensor B, "
      "Tensor C, Tensor? D, Tensor? z, Tensor? delta_bias, Tensor? h0, Tensor ckpt, "
      "bool delta_softplus, bool reverse) -> (Tensor du, Tensor ddelta, Tensor dA, Tensor dB, "
      "Tensor dC, Tensor dD, Tensor dz, Tensor ddelta_bias, Tensor dh0)");
}

TORCH_LIBRARY_IMPL(mmx, CompositeImplicitAutograd, m) {
  m.impl("selective_scan", &mmx::op_scan);
  m.impl("selective_scan_ref", &mmx::op_scan_ref);
}
