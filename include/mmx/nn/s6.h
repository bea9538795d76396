// The S6 layer: the selective state-space scan with its input-dependent projections
// (MambaMixer §3.1; parameterisation and initialisation as state-spaces/mamba `Mamba`).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace mmx::nn {

/// The "auto" rank of the Delta projection: R = ceil(d_model / 16) (state-spaces/mamba `Mamba`
/// dt_rank="auto").
int64_t auto_dt_rank(int64_t d_model);

/// Initialisation of the Delta, A and D parameters of an S6 layer (state-spaces/mamba `Mamba`
/// init; the paper gives none). Embedded as `s6_init` in the options of every module that builds
/// S6 scans, and applied by init_s6_parameters.
struct S6InitOptions {
  /// Range of the initial step sizes softplus(dt bias), sampled log-uniformly.
  TORCH_ARG(double, dt_min) = 1e-3;
  TORCH_ARG(double, dt_max) = 0.1;
  /// Lower clamp of the sampled initial step size.
  TORCH_ARG(double, dt_init_floor) = 1e-4;
  /// dt weight ~ U(-dt_scale * R^-1/2, dt_scale * R^-1/2).
  TORCH_ARG(double, dt_scale) = 1.0;
};

/// Writes the initial values of S6InitOptions into existing tensors, without autograd, in this
/// order (the order of the random draws): dt_weight (..., R) ~ U(+-dt_scale R^-1/2); dt_bias
/// (any shape) = softplus^-1(dt) with dt = exp(U(ln dt_min, ln dt_max)) clamped below at
/// dt_init_floor, drawn in float64; A_log (rows, N): A_log[r, n] = ln(n + 1); D = 1.
/// Used by S6 and StackedS6. Throws c10::Error unless 0 < dt_min <= dt_max.
void init_s6_parameters(const S6InitOptions& init, torch::Tensor dt_weight, torch::Tensor dt_bias, torch::Tensor A_log,
                        torch::Tensor D);

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
  /// Initial values of dt_proj, A_log and D.
  TORCH_ARG(S6InitOptions, s6_init) = {};
  /// Scan from the last step to the first (the backward direction of a bidirectional mixer).
  TORCH_ARG(bool, reverse) = false;

 public:
  /// E after resolving the default.
  int64_t resolved_d_inner() const { return d_inner_.value_or(expand_ * d_model_); }
  /// R after resolving "auto".
  int64_t resolved_dt_rank() const { return dt_rank_.value_or(auto_dt_rank(d_model_)); }
};

/// S6 selective scan layer (MambaMixer §3.1 Eqs. 1–4 with the selection of B, C, Delta; the
/// hardware-aware discretisation of state-spaces/mamba `selective_scan_fn`).
///
/// Parameters (checkpoint keys): x_proj.weight (R+2N, E), dt_proj.weight (E, R),
/// dt_proj.bias (E), A_log (E, N), D (E).
/// Init: x_proj default Linear init, then init_s6_parameters (state-spaces/mamba `Mamba`).
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
