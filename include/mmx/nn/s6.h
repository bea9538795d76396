// The S6 layer: the selective state-space scan with its input-dependent projections
// (paper-spec §1.3, state-spaces/mamba `Mamba` conventions).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace mmx::nn {

/// The "auto" rank of the Delta projection: R = ceil(d_model / 16) (paper-spec §1.1, [MAMBA]).
int64_t auto_dt_rank(int64_t d_model);

/// Options of S6. `d_model` is the outer width the "auto" dt_rank derives from; the layer itself
/// works on d_inner = E channels.
struct S6Options {
  S6Options(int64_t d_model = 32) : d_model_(d_model) {}

  /// Outer width of the owning mixer (only used for the "auto" dt_rank and the d_inner default).
  TORCH_ARG(int64_t, d_model) = 32;
  /// E = d_inner, the number of independent SSM channels; nullopt = expand * d_model.
  TORCH_ARG(std::optional<int64_t>, d_inner) = std::nullopt;
  /// Expansion factor used when d_inner is nullopt.
  TORCH_ARG(int64_t, expand) = 2;
  /// N, the state size per channel.
  TORCH_ARG(int64_t, d_state) = 16;
  /// R, rank of the Delta projection; nullopt = "auto" = ceil(d_model / 16).
  TORCH_ARG(std::optional<int64_t>, dt_rank) = std::nullopt;
  /// Range of the initial step sizes softplus(dt_proj.bias), sampled log-uniformly.
  TORCH_ARG(double, dt_min) = 1e-3;
  TORCH_ARG(double, dt_max) = 0.1;
  /// Lower clamp of the sampled initial step size.
  TORCH_ARG(double, dt_init_floor) = 1e-4;
  /// dt_proj.weight ~ U(-dt_scale * R^-1/2, dt_scale * R^-1/2).
  TORCH_ARG(double, dt_scale) = 1.0;
  /// Scan from the last step to the first (the backward direction of a bidirectional mixer).
  TORCH_ARG(bool, reverse) = false;

 public:
  /// E after resolving the default.
  int64_t resolved_d_inner() const { return d_inner_.value_or(expand_ * d_model_); }
  /// R after resolving "auto".
  int64_t resolved_dt_rank() const { return dt_rank_.value_or(auto_dt_rank(d_model_)); }
};

/// S6 selective scan layer (paper-spec §1.3).
///
/// Parameters (checkpoint keys): x_proj.weight (R+2N, E), dt_proj.weight (E, R),
/// dt_proj.bias (E), A_log (E, N), D (E).
/// Init [MAMBA]: A_log[e, n] = ln(n + 1), D = 1, softplus(dt_proj.bias) = exp(U(ln dt_min,
/// ln dt_max)) clamped below at dt_init_floor, dt_proj.weight ~ U(+-dt_scale R^-1/2),
/// x_proj default Linear init.
class S6Impl : public torch::nn::Module {
 public:
  explicit S6Impl(const S6Options& options = {});

  /// Creates and initialises the parameters (called once, by the constructor).
  void reset();

  /// u: (batch, E, L) (post-conv activation); z: optional gate (batch, E, L), the output is then
  /// multiplied by SiLU(z). Returns (batch, E, L) in u's dtype. Delta = softplus(dt_proj.weight
  /// delta_low + dt_proj.bias) with [delta_low; B; C] = x_proj(u_t); B and C are shared by all
  /// channels (G = 1). Calls mmx::selective_scan (fused kernel or reference).
  /// Throws c10::Error if u is not 3-D with size(1) == E, or z's shape differs from u's.
  torch::Tensor forward(const torch::Tensor& u, const torch::Tensor& z = {});

  S6Options options;
  torch::nn::Linear x_proj{nullptr};
  torch::nn::Linear dt_proj{nullptr};
  torch::Tensor A_log;
  torch::Tensor D;
};
TORCH_MODULE(S6);

}  // namespace mmx::nn
