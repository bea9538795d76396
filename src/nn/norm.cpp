// Norm2D (docs/decisions.md, "Norm2D") and RevIN (Kim et al. 2022).
#include "mmx/nn/norm.h"

#include <numeric>

namespace mmx::nn {

Norm2DImpl::Norm2DImpl(const Norm2DOptions& options_) : options(options_) { reset(); }

void Norm2DImpl::reset() {
  TORCH_CHECK(options.d_model() >= 1, "Norm2D: d_model must be >= 1, got ", options.d_model());
  if (options.affine()) {
    weight = register_parameter("weight", torch::ones({options.d_model()}));
    bias = register_parameter("bias", torch::zeros({options.d_model()}));
  }
}

torch::Tensor Norm2DImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() >= 2 && x.size(-1) == options.d_model(),
              "Norm2D: x must have shape (B, ..., d) with d = ", options.d_model(), ", got ", x.sizes());
  std::vector<int64_t> dims(x.dim() - 1);
  std::iota(dims.begin(), dims.end(), 1);
  auto [var, mean] = torch::var_mean(x, dims, /*correction=*/0, /*keepdim=*/true);
  auto y = (x - mean) * torch::rsqrt(var + options.eps());
  return options.affine() ? y * weight + bias : y;
}

RevINImpl::RevINImpl(const RevINOptions& options_) : options(options_) { reset(); }

void RevINImpl::reset() {
  TORCH_CHECK(options.n_vars() >= 1, "RevIN: n_vars must be >= 1, got ", options.n_vars());
  if (options.affine()) {
    weight = register_parameter("weight", torch::ones({options.n_vars()}));
    bias = register_parameter("bias", torch::zeros({options.n_vars()}));
  }
}

std::pair<torch::Tensor, RevINStats> RevINImpl::normalize(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options.n_vars(),
              "RevIN: x must have shape (B, L, M) with M = ", options.n_vars(), ", got ", x.sizes());
  RevINStats stats;
  {
    torch::NoGradGuard no_grad;
    auto [var, mean] = torch::var_mean(x, {1}, /*correction=*/0, /*keepdim=*/true);
    stats.mean = mean;
    stats.stdev = torch::sqrt(var + options.eps());
  }
  auto y = (x - stats.mean) / stats.stdev;
  if (options.affine()) y = y * weight + bias;
  return {y, stats};
}

torch::Tensor RevINImpl::denormalize(const torch::Tensor& y, const RevINStats& stats) {
  TORCH_CHECK(
      y.dim() == 3 && stats.mean.defined() && y.size(0) == stats.mean.size(0) && y.size(2) == stats.mean.size(2),
      "RevIN: y must have shape (B, H, M) matching the statistics ",
      stats.mean.defined() ? stats.mean.sizes() : at::IntArrayRef{}, ", got ", y.sizes());
  auto x = y;
  if (options.affine()) x = (x - bias) / weight;
  return x * stats.stdev + stats.mean;
}

}  // namespace mmx::nn
