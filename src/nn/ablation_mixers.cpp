// VariateMLP and TimeLinear: the mixers of the TSM2 ablations (see include/mmx/nn/ablation_mixers.h).
#include "mmx/nn/ablation_mixers.h"

namespace mmx::nn {

VariateMLPImpl::VariateMLPImpl(const VariateMLPOptions& o) : options(o) {
  TORCH_CHECK(o.n_vars() >= 1, "VariateMLP: n_vars must be >= 1, got ", o.n_vars());
  TORCH_CHECK(o.mlp_ratio() >= 1, "VariateMLP: mlp_ratio must be >= 1, got ", o.mlp_ratio());
  fc1 = register_module("fc1", torch::nn::Linear(o.n_vars(), o.mlp_ratio() * o.n_vars()));
  fc2 = register_module("fc2", torch::nn::Linear(o.mlp_ratio() * o.n_vars(), o.n_vars()));
}

torch::Tensor VariateMLPImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.n_vars(),
              "VariateMLP: x must have shape (B, M, P, d) with M = ", options.n_vars(), ", got ", x.sizes());
  auto h = x.permute({0, 2, 3, 1});  // (B, P, d, M): the variates last, where Linear works
  h = fc2(torch::gelu(fc1(h)));
  return h.permute({0, 3, 1, 2});
}

TimeLinearImpl::TimeLinearImpl(const TimeLinearOptions& o) : options(o) {
  TORCH_CHECK(o.n_tokens() >= 1, "TimeLinear: n_tokens must be >= 1, got ", o.n_tokens());
  proj = register_module("proj", torch::nn::Linear(o.n_tokens(), o.n_tokens()));
}

torch::Tensor TimeLinearImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(2) == options.n_tokens(),
              "TimeLinear: x must have shape (B, M, P, d) with P = ", options.n_tokens(), ", got ", x.sizes());
  return proj(x.transpose(2, 3)).transpose(2, 3);  // (B, M, d, P) -> Linear over P -> back
}

}  // namespace mmx::nn
