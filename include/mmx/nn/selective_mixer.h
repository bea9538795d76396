// The two selective mixers of MambaMixer §3.2: the token mixer (sequence axis = tokens,
// projections on channels) and the channel mixer (the same gated-scan body run along the channel
// axis).
#pragma once

#include "mmx/nn/causal_conv1d.h"
#include "mmx/nn/s6.h"

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>

namespace mmx::nn {

/// Options of SelectiveTokenMixer.
struct SelectiveTokenMixerOptions {
  SelectiveTokenMixerOptions(int64_t d_model = 32) : d_model_(d_model) {}

  /// D, the width of each input/output step.
  TORCH_ARG(int64_t, d_model) = 32;
  /// N, the S6 state size.
  TORCH_ARG(int64_t, d_state) = 16;
  /// k, the depthwise conv length.
  TORCH_ARG(int64_t, d_conv) = 4;
  /// E = expand * d_model unless d_inner is set.
  TORCH_ARG(int64_t, expand) = 2;
  /// E override (e.g. the paper's E_c of a literal channel mixer).
  TORCH_ARG(std::optional<int64_t>, d_inner) = std::nullopt;
  /// R; nullopt = "auto" = ceil(d_model / 16).
  TORCH_ARG(std::optional<int64_t>, dt_rank) = std::nullopt;
  /// K = 1 (false: forward causal scan) or K = 2 (true: forward + reversed scan, summed).
  TORCH_ARG(bool, bidirectional) = false;
  /// Initial values of every direction's S6 (see S6InitOptions).
  TORCH_ARG(S6InitOptions, s6_init) = {};

 public:
  int64_t resolved_d_inner() const { return d_inner_.value_or(expand_ * d_model_); }
  int64_t resolved_dt_rank() const { return dt_rank_.value_or(auto_dt_rank(d_model_)); }
  int64_t n_directions() const { return bidirectional_ ? 2 : 1; }
};

/// Selective token mixer (MambaMixer §3.2): the Mamba block body (state-spaces/mamba `Mamba`: S6
/// inputs from the conv output, SiLU, gate SiLU(z), no projection biases), uni- or bidirectional.
///
///   [u; z] = in_proj(x)                                       (B', L, 2E), no bias
///   g      = sum_k S6_k(SiLU(Conv_k(u)), gate z)               (B', E, L)
///   out    = out_proj(g)                                      (B', L, D), no bias
///
/// Direction k = 0 is the causal forward scan; k = 1 (bidirectional) is the reversed scan: an
/// anti-causal conv and a scan with `reverse` set, which is exactly flip(S6(SiLU(Conv(flip(u))))).
/// The norm and residual of the sub-block wrapper are not part of the mixer (PreNormResidual).
///
/// Parameters (checkpoint keys): in_proj.weight (2E, D); conv1d.{k}.weight (E, 1, d_conv),
/// conv1d.{k}.bias (E); s6.{k}.x_proj.weight, s6.{k}.dt_proj.{weight,bias}, s6.{k}.A_log,
/// s6.{k}.D (see S6); out_proj.weight (D, E).
class SelectiveTokenMixerImpl : public torch::nn::Module {
 public:
  explicit SelectiveTokenMixerImpl(const SelectiveTokenMixerOptions& options = {});

  /// x: (*, L, D) with any number (>= 1) of leading dims, mixed along L independently for every
  /// leading index -> same shape. Throws c10::Error if x.dim() < 2 or x.size(-1) != d_model.
  torch::Tensor forward(const torch::Tensor& x);

  SelectiveTokenMixerOptions options;
  torch::nn::Linear in_proj{nullptr};
  torch::nn::ModuleList conv1d;
  torch::nn::ModuleList s6;
  torch::nn::Linear out_proj{nullptr};
};
TORCH_MODULE(SelectiveTokenMixer);

/// Where a channel mixer's projections act (docs/decisions.md, "TSM2 channel mixer layout").
enum class ChannelMixerLayout {
  kCell,       ///< per (b, p): sequence over M, step features = the d-vector of cell (m, p). TSM2 default.
  kLiteral,    ///< per b: sequence over M, step features = variate m's flattened P*d values (§3.2
               ///< equations taken literally).
  kTokenWise,  ///< ViM2's resolution-free option: not for this (B, M, P, d) mixer (constructor
               ///< throws); ViM2 uses nn::TokenWiseChannelMixer (vim2_channel_mixer.h).
};

/// "cell" / "literal" / "token_wise" -> the enum; throws c10::Error on anything else.
ChannelMixerLayout parse_channel_mixer_layout(const std::string& name);
/// The enum -> "cell" / "literal" / "token_wise".
std::string to_string(ChannelMixerLayout layout);

/// Options of SelectiveChannelMixer.
struct SelectiveChannelMixerOptions {
  SelectiveChannelMixerOptions(int64_t d_model = 32) : d_model_(d_model) {}

  /// d, the feature width of one (variate, patch) cell.
  TORCH_ARG(int64_t, d_model) = 32;
  TORCH_ARG(ChannelMixerLayout, layout) = ChannelMixerLayout::kCell;
  /// P, the number of tokens (patches); needed by the literal layout only (its projections act on
  /// P*d features).
  TORCH_ARG(int64_t, n_tokens) = 0;
  TORCH_ARG(int64_t, d_state) = 16;
  TORCH_ARG(int64_t, d_conv) = 4;
  /// E_c = expand * d_model unless d_inner is set (both layouts).
  TORCH_ARG(int64_t, expand) = 2;
  TORCH_ARG(std::optional<int64_t>, d_inner) = std::nullopt;
  /// R; nullopt = "auto" = ceil(step features / 16): ceil(d/16) (cell), ceil(P*d/16) (literal).
  TORCH_ARG(std::optional<int64_t>, dt_rank) = std::nullopt;
  /// K = 2 (forward + flipped channel order, summed) by default, as the paper's channel mixer.
  TORCH_ARG(bool, bidirectional) = true;
  /// Initial values of every direction's S6 (see S6InitOptions).
  TORCH_ARG(S6InitOptions, s6_init) = {};

 public:
  /// Width of one step of the channel sequence: d (cell) or n_tokens * d (literal).
  int64_t step_features() const;
  /// The gated-scan body these options describe, run along the channel axis.
  SelectiveTokenMixerOptions body_options() const;
};

/// Selective channel mixer (MambaMixer §3.2): the gated-scan body of SelectiveTokenMixer run along
/// the channel (variate) axis of a (B, M, P, d) grid, bidirectional by default as in the paper
/// (the backward direction scans the channels in reverse order).
///
/// Parameters: the same keys as SelectiveTokenMixer (in_proj, conv1d.{k}, s6.{k}, out_proj) with
/// D = step_features() and E = E_c.
class SelectiveChannelMixerImpl : public SelectiveTokenMixerImpl {
 public:
  /// Throws c10::Error for kTokenWise (see nn::TokenWiseChannelMixer) or kLiteral with n_tokens < 1.
  explicit SelectiveChannelMixerImpl(const SelectiveChannelMixerOptions& options = {});

  /// x: (B, M, P, d) -> (B, M, P, d), mixing along M. Throws c10::Error if x is not 4-D, or
  /// x.size(3) != d_model, or (literal) x.size(2) != n_tokens.
  torch::Tensor forward(const torch::Tensor& x);

  SelectiveChannelMixerOptions channel_options;
};
TORCH_MODULE(SelectiveChannelMixer);

}  // namespace mmx::nn
