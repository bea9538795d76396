// The two non-selective mixers of the TSM2 ablations (MambaMixer §6.5, Table 7): an MLP across the
// variates (TSM2-MLP) and a linear layer across time ("Mamba + Linear time"), both on the
// (B, M, P, d) grid of the MambaMixer stack, in the style of TSMixer's feature- and time-mixing.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace mmx::nn {

/// Options of VariateMLP.
struct VariateMLPOptions {
  VariateMLPOptions(int64_t n_vars = 7) : n_vars_(n_vars) {}
  /// M, the length of the variate axis.
  TORCH_ARG(int64_t, n_vars) = 7;
  /// Hidden width = mlp_ratio * M (MLP-Mixer's / TSMixer's habit of 4; the paper gives none).
  TORCH_ARG(int64_t, mlp_ratio) = 4;
};

/// MLP across the variate axis, shared by every (b, p, k): for x of shape (B, M, P, d),
///   y[b, :, p, k] = W2 GELU(W1 x[b, :, p, k] + b1) + b2,  W1: (r M, M), W2: (M, r M).
/// The TSM2-MLP channel mixer (Table 7): it mixes the variates like the selective channel mixer
/// but with fixed, data-independent weights, and its parameters depend on M.
/// Children: fc1 (M -> r M), fc2 (r M -> M).
class VariateMLPImpl : public torch::nn::Module {
 public:
  /// Throws c10::Error unless n_vars >= 1 and mlp_ratio >= 1.
  explicit VariateMLPImpl(const VariateMLPOptions& options = {});
  void reset() {}

  /// x: (B, M, P, d) -> (B, M, P, d). Throws c10::Error if x is not 4-D or x.size(1) != n_vars.
  torch::Tensor forward(const torch::Tensor& x);

  VariateMLPOptions options;
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(VariateMLP);

/// Options of TimeLinear.
struct TimeLinearOptions {
  TimeLinearOptions(int64_t n_tokens = 63) : n_tokens_(n_tokens) {}
  /// P, the length of the time (patch) axis.
  TORCH_ARG(int64_t, n_tokens) = 63;
};

/// One linear layer across the time (patch) axis, shared by every (b, m, k): for x (B, M, P, d),
///   y[b, m, :, k] = W x[b, m, :, k] + c,  W: (P, P).
/// The token mixer of the "Mamba + Linear time" ablation (Table 7; TSMixer's time mixing without
/// its activation). It sees the whole lookback at once (not causal). Children: proj (P -> P).
class TimeLinearImpl : public torch::nn::Module {
 public:
  /// Throws c10::Error unless n_tokens >= 1.
  explicit TimeLinearImpl(const TimeLinearOptions& options = {});
  void reset() {}

  /// x: (B, M, P, d) -> (B, M, P, d). Throws c10::Error if x is not 4-D or x.size(2) != n_tokens.
  torch::Tensor forward(const torch::Tensor& x);

  TimeLinearOptions options;
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(TimeLinear);

}  // namespace mmx::nn
