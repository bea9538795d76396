// Depthwise causal / anti-causal 1D convolution (MambaMixer §3.2; state-spaces/mamba conv1d).
#include "mmx/nn/causal_conv1d.h"

#include <cmath>

namespace mmx::nn {

namespace F = torch::nn::functional;

torch::Tensor causal_depthwise_conv1d(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                      bool reverse) {
  const int64_t k = weight.size(2), L = x.size(2);
  // As state-spaces/mamba: conv1d (a cross-correlation) with padding k-1 on both sides, output i
  // reads x[i-(k-1)+j]; causal keeps outputs 0..L-1. Reverse: the flipped kernel and outputs
  // k-1..k-2+L, which read x[t + (k-1) - j] with weight j.
  const auto w = reverse ? weight.flip({-1}) : weight;
  const auto y = F::conv1d(x, w, F::Conv1dFuncOptions().bias(bias).padding(k - 1).groups(x.size(1)));
  return reverse ? y.narrow(2, k - 1, L) : y.narrow(2, 0, L);
}

std::pair<torch::Tensor, torch::Tensor> init_depthwise_conv1d(int64_t channels, int64_t kernel_size, bool bias) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(kernel_size));
  auto w = torch::empty({channels, 1, kernel_size}).uniform_(-bound, bound);
  auto b = bias ? torch::empty({channels}).uniform_(-bound, bound) : torch::Tensor();
  return {w, b};
}

CausalConv1dImpl::CausalConv1dImpl(const CausalConv1dOptions& options_) : options(options_) { reset(); }

void CausalConv1dImpl::reset() {
  const int64_t E = options.channels(), k = options.kernel_size();
  TORCH_CHECK(E >= 1 && k >= 1, "CausalConv1d: channels and kernel_size must be >= 1, got ", E, ", ", k);
  auto [w, b] = init_depthwise_conv1d(E, k, options.bias());
  weight = register_parameter("weight", w);
  if (options.bias()) bias = register_parameter("bias", b);
}

torch::Tensor CausalConv1dImpl::forward(const torch::Tensor& x) {
  const int64_t E = options.channels();
  TORCH_CHECK(x.dim() == 3 && x.size(1) == E, "CausalConv1d: x must have shape (batch, E, L) with E = ", E, ", got ",
              x.sizes());
  return causal_depthwise_conv1d(x, weight, bias, options.reverse());
}

}  // namespace mmx::nn
