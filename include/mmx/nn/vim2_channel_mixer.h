// The ViM2 channel mixers (MambaMixer §4.1 "Selective Channel Mixing", the channel-mixer cell of
// Table 8, Appendix A): CM-literal with K = 4 or 2 branches and the resolution-free CM-token-wise
// option. The scan runs along the channel axis.
//
// Layout convention: image tokens are channels-last, x (B, H, W, C), as in VMamba.
#pragma once

#include "mmx/nn/s6.h"
#include "mmx/nn/stacked_s6.h"

#include <torch/torch.h>

#include <cstdint>

namespace mmx::nn {

/// Options of the ViM2 channel mixers.
struct ChannelMixer2DOptions {
  ChannelMixer2DOptions(int64_t d_model = 96, int64_t side = 56) : d_model_(d_model), side_(side) {}
  /// C, the number of channels = length of the channel sequence.
  TORCH_ARG(int64_t, d_model) = 96;
  /// H = W of the token grid (literal layout: fixes L = side^2).
  TORCH_ARG(int64_t, side) = 56;
  /// E_c.
  TORCH_ARG(int64_t, d_inner) = 192;
  /// K: 4 (row/column-major x forward/reversed channel order) or 2 (row-major only).
  TORCH_ARG(int64_t, n_branches) = 4;
  TORCH_ARG(int64_t, d_state) = 16;
  /// Length of the causal 1D convs.
  TORCH_ARG(int64_t, d_conv) = 4;
  /// Initial values of every branch's S6 parameters (see S6InitOptions).
  TORCH_ARG(S6InitOptions, s6_init) = {};
  /// Rebuild the scan's saved states in the backward instead of keeping them (training memory;
  /// SelectiveScanOptions::recompute_states).
  TORCH_ARG(bool, scan_recompute) = false;
};

/// CM-literal ViM2 channel mixer (MambaMixer §4.1 "Selective Channel Mixing": the token mixer's
/// scans, run across the channels, with tokens flattened; our reading of it: docs/decisions.md,
/// "ViM2 channel mixer"). For x̂ (B, H, W, C), L = H W:
///   V_row (B, C, L) / V_col: every channel's map flattened row- / column-major;
///   U_k = V_k W_inᵀ (W_in shared, E_c x L), Z = V_row W_zᵀ;
///   branch k: a_k = S6_k(SiLU(Conv_k(U_k))) along the C-length channel sequence, forward for
///   k = 1, 2 and in reversed channel order for k = 3, 4;
///   out = ((Σ_k a_k) ⊙ SiLU(Z)) W_outᵀ (B, C, L) -> un-flattened row-major to (B, H, W, C).
///
/// Parameters: in_proj.weight (2 E_c, L) (= [W_in; W_z]), conv_weight (K E_c, 1, d_conv),
/// conv_bias (K E_c), s6.* (K directions, R_c = ceil(L/16)), out_proj.weight (L, E_c).
class ChannelMixer2DImpl : public torch::nn::Module {
 public:
  /// Throws c10::Error unless n_branches is 2 or 4 and every size is >= 1.
  explicit ChannelMixer2DImpl(const ChannelMixer2DOptions& options = {});
  /// x: (B, side, side, C) -> same shape. Throws c10::Error on any other shape.
  torch::Tensor forward(const torch::Tensor& x);

  ChannelMixer2DOptions options;
  torch::nn::Linear in_proj{nullptr};
  torch::Tensor conv_weight, conv_bias;
  StackedS6 s6{nullptr};
  torch::nn::Linear out_proj{nullptr};
};
TORCH_MODULE(ChannelMixer2D);

/// CM-token-wise ViM2 channel mixer, resolution-free (our option: docs/decisions.md, "Token-wise
/// channel mixer"). For every token p separately: u_p = W_in x̂_p, z_p = W_z x̂_p (E_c each); the
/// E_c entries of u_p are a scalar sequence; two directions (forward and reversed entry order) each apply a scalar
/// causal conv (d_conv, bias) and a scalar S6 (E = 1, R = 1); out_p = W_out ((a_fwd + a_rev) ⊙ SiLU(z_p)). `side` and
/// `n_branches` of the options are ignored.
///
/// Parameters: in_proj.weight (2 E_c, C), conv_weight (2, 1, d_conv), conv_bias (2),
/// s6.* (K = 2, E = 1, R = 1), out_proj.weight (C, E_c).
class TokenWiseChannelMixerImpl : public torch::nn::Module {
 public:
  explicit TokenWiseChannelMixerImpl(const ChannelMixer2DOptions& options = {});
  /// x: (B, H, W, C) with any H, W -> same shape. Throws c10::Error if x.size(3) != C.
  torch::Tensor forward(const torch::Tensor& x);

  ChannelMixer2DOptions options;
  torch::nn::Linear in_proj{nullptr};
  torch::Tensor conv_weight, conv_bias;
  StackedS6 s6{nullptr};
  torch::nn::Linear out_proj{nullptr};
};
TORCH_MODULE(TokenWiseChannelMixer);

}  // namespace mmx::nn
