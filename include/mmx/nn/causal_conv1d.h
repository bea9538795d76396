// The depthwise causal (and anti-causal) 1D convolution in front of every 1D selective scan
// (MambaMixer §3.2 "Conv" / "1D-Conv"; state-spaces/mamba `Mamba` conv1d: kernel 4, with bias,
// zero left padding). One implementation, causal_depthwise_conv1d, serves the CausalConv1d module
// of the generic mixers and the raw conv parameters of the ViM2 channel mixers.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <utility>

namespace mmx::nn {

/// Depthwise conv along the last axis: x (batch, E, L), weight (E, 1, k), bias (E) or undefined
/// -> (batch, E, L). Causal: out[b, e, t] = bias[e] + sum_j weight[e, 0, j] x[b, e, t - (k-1) + j];
/// reverse (anti-causal): out[b, e, t] = bias[e] + sum_j weight[e, 0, j] x[b, e, t + (k-1) - j],
/// which equals flip(causal(flip(x))) with the same weights. Zero outside [0, L).
torch::Tensor causal_depthwise_conv1d(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                      bool reverse);

/// Parameters of `channels` depthwise filters of length k with torch's default Conv1d init
/// U(+-1/sqrt(k)) (fan_in = k): weight (channels, 1, k) drawn first, then bias (channels), or an
/// undefined bias when `bias` is false.
std::pair<torch::Tensor, torch::Tensor> init_depthwise_conv1d(int64_t channels, int64_t kernel_size, bool bias = true);

/// Options of CausalConv1d.
struct CausalConv1dOptions {
  CausalConv1dOptions(int64_t channels = 64, int64_t kernel_size = 4)
      : channels_(channels), kernel_size_(kernel_size) {}

  /// Number of channels E (depthwise: one filter per channel).
  TORCH_ARG(int64_t, channels) = 64;
  /// k, the filter length.
  TORCH_ARG(int64_t, kernel_size) = 4;
  TORCH_ARG(bool, bias) = true;
  /// false: out[t] reads x[t-k+1 .. t] (zero left padding k-1, causal);
  /// true: out[t] reads x[t .. t+k-1] (zero right padding, anti-causal). The reverse conv equals
  /// flip(causal_conv(flip(x))) with the same weights.
  TORCH_ARG(bool, reverse) = false;
};

/// Depthwise 1D convolution along the last axis with one-sided zero padding, as a module
/// (causal_depthwise_conv1d with its own parameters).
///
/// Parameters: weight (E, 1, k), bias (E); default Conv1d init U(+-1/sqrt(k)).
class CausalConv1dImpl : public torch::nn::Module {
 public:
  explicit CausalConv1dImpl(const CausalConv1dOptions& options = {});
  void reset();

  /// x: (batch, E, L) -> (batch, E, L), see causal_depthwise_conv1d.
  /// Throws c10::Error if x is not 3-D with size(1) == E.
  torch::Tensor forward(const torch::Tensor& x);

  CausalConv1dOptions options;
  torch::Tensor weight;
  torch::Tensor bias;
};
TORCH_MODULE(CausalConv1d);

}  // namespace mmx::nn
