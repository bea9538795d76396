// Normalisations of TSM2: the 2D normalisation of the mixers (MambaMixer §5.1; definition ours:
// docs/decisions.md, "Norm2D") and reversible instance normalisation of the raw series (RevIN,
// Kim et al. 2022; docs/decisions.md, "TSM2 instantiation").
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace mmx::nn {

/// Options of Norm2D.
struct Norm2DOptions {
  Norm2DOptions(int64_t d_model = 32) : d_model_(d_model) {}

  /// d, the size of the last (feature) axis that carries the affine.
  TORCH_ARG(int64_t, d_model) = 32;
  TORCH_ARG(double, eps) = 1e-5;
  /// Learnable per-feature gamma (weight, init 1) and beta (bias, init 0).
  TORCH_ARG(bool, affine) = true;
};

/// 2D normalisation (MambaMixer §5.1; our definition: docs/decisions.md, "Norm2D"): per sample b,
/// mean and population variance over all remaining entries (m, n, j), then a per-feature affine
/// on the last axis: y = (x - mean_b) / sqrt(var_b + eps) * weight + bias.
///
/// Parameters: weight (d), bias (d).
class Norm2DImpl : public torch::nn::Module {
 public:
  explicit Norm2DImpl(const Norm2DOptions& options = {});
  void reset();

  /// x: (B, ..., d) with at least 2 dims -> same shape. Throws c10::Error if x.dim() < 2 or
  /// x.size(-1) != d_model.
  torch::Tensor forward(const torch::Tensor& x);

  Norm2DOptions options;
  torch::Tensor weight;
  torch::Tensor bias;
};
TORCH_MODULE(Norm2D);

/// Options of RevIN.
struct RevINOptions {
  RevINOptions(int64_t n_vars = 7) : n_vars_(n_vars) {}

  /// M, the number of variates (size of the affine).
  TORCH_ARG(int64_t, n_vars) = 7;
  TORCH_ARG(double, eps) = 1e-5;
  /// Learnable per-variate affine after the normalisation (an option; off by default).
  TORCH_ARG(bool, affine) = false;
};

/// Statistics of one RevIN normalisation, needed to undo it.
struct RevINStats {
  torch::Tensor mean;   ///< (B, 1, M)
  torch::Tensor stdev;  ///< (B, 1, M), sqrt(population variance + eps)
};

/// Reversible instance normalisation (RevIN, Kim et al. 2022), applied to the input and undone on
/// the forecast: per sample
/// and variate, x~ = (x - mean_t x) / sqrt(var_t x + eps) (population variance), then optionally
/// x~ * weight + bias per variate. The statistics are treated as constants (detached), as in
/// RevIN, TSMixer and SAMFormer.
///
/// Parameters (affine only): weight (M) init 1, bias (M) init 0.
class RevINImpl : public torch::nn::Module {
 public:
  explicit RevINImpl(const RevINOptions& options = {});
  void reset();

  /// x: (B, L, M) -> (normalised x (B, L, M), statistics). Throws c10::Error if x is not 3-D or
  /// x.size(2) != n_vars.
  std::pair<torch::Tensor, RevINStats> normalize(const torch::Tensor& x);

  /// y: (B, H, M) in the normalised space -> (B, H, M) in the original space:
  /// ((y - bias) / weight) * stdev + mean. Throws c10::Error on a shape mismatch with `stats`.
  torch::Tensor denormalize(const torch::Tensor& y, const RevINStats& stats);

  RevINOptions options;
  torch::Tensor weight;  ///< undefined unless affine
  torch::Tensor bias;    ///< undefined unless affine
};
TORCH_MODULE(RevIN);

}  // namespace mmx::nn
