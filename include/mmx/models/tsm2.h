// TSM2: MambaMixer for multivariate long-term forecasting (MambaMixer §5.1; the details the paper
// leaves open: docs/decisions.md, "TSM2 instantiation").
#pragma once

#include "mmx/models/parameter_shapes.h"
#include "mmx/nn/mamba_mixer.h"
#include "mmx/nn/norm.h"

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mmx::models {

/// The architecture: TSM2 or one of the two ablations of MambaMixer §6.5, Table 7 (docs/decisions.md, "TSM2
/// ablations").
enum class TSM2Variant {
  kTSM2,             ///< "tsm2": causal selective token mixer, bidirectional selective channel mixer,
                     ///< weighted averaging (§5.1)
  kMLP,              ///< "tsm2_mlp": the channel mixer is an MLP over the variates (nn::VariateMLP),
                     ///< no weighted averaging (a sequential stack)
  kMambaLinearTime,  ///< "mamba_linear_time": the token mixer is one linear layer over time
                     ///< (nn::TimeLinear), the channel mixer a unidirectional selective mixer;
                     ///< weighted averaging kept
};

/// "tsm2" / "tsm2_mlp" / "mamba_linear_time" -> the enum; throws c10::Error on anything else.
TSM2Variant parse_tsm2_variant(const std::string& name);
/// The enum -> its name above.
std::string to_string(TSM2Variant variant);

/// Options of TSM2. Defaults: lookback 512 and horizon 96 (§6.4, Table 5), the ETT values of
/// docs/decisions.md, "TSM2 instantiation" (d 32, 𝓛 2, d_state 16, expand 2, dropout 0.3) and
/// PatchTST-style patches 16/8.
struct TSM2Options {
  TSM2Options() = default;

  /// L, the lookback.
  TORCH_ARG(int64_t, seq_len) = 512;
  /// H, the horizon.
  TORCH_ARG(int64_t, pred_len) = 96;
  /// M, the number of variates (ETTh1: 7).
  TORCH_ARG(int64_t, n_vars) = 7;
  TORCH_ARG(int64_t, patch_len) = 16;
  TORCH_ARG(int64_t, stride) = 8;
  /// d, the width of a patch embedding.
  TORCH_ARG(int64_t, d_model) = 32;
  /// 𝓛, the number of MambaMixer blocks.
  TORCH_ARG(int64_t, n_layers) = 2;
  TORCH_ARG(int64_t, d_state) = 16;
  TORCH_ARG(int64_t, d_conv) = 4;
  TORCH_ARG(int64_t, expand) = 2;
  /// nullopt = "auto" = ceil(d_model / 16).
  TORCH_ARG(std::optional<int64_t>, dt_rank) = std::nullopt;
  /// Dropout before the head.
  TORCH_ARG(double, dropout) = 0.3;
  /// Stochastic depth rate of every mixer sub-block.
  TORCH_ARG(double, drop_path) = 0.0;
  TORCH_ARG(bool, revin) = true;
  TORCH_ARG(bool, revin_affine) = false;
  TORCH_ARG(nn::ChannelMixerLayout, channel_layout) = nn::ChannelMixerLayout::kCell;
  TORCH_ARG(double, norm_eps) = 1e-5;
  /// TSM2 or an ablation (Table 7); the ablations use the cell channel layout only.
  TORCH_ARG(TSM2Variant, variant) = TSM2Variant::kTSM2;
  /// C_Z, future time-varying covariates known over the horizon (§5.5; calendar features, a known
  /// driver); 0 = none. Shared by the variates.
  TORCH_ARG(int64_t, n_future) = 0;
  /// C_S, static features of each variate (§5.5); 0 = none.
  TORCH_ARG(int64_t, n_static) = 0;

 public:
  /// The length the backbone sees: seq_len for each of the history, the projected future
  /// covariates (n_future > 0) and the projected static features (n_static > 0), concatenated
  /// along time (§5.5: x ‖ Z_proj ‖ S_proj).
  int64_t input_len() const;
  /// P = floor((input_len - patch_len) / stride) + 1.
  int64_t n_patches() const;
  /// Throws c10::Error naming the first invalid field.
  void validate() const;
};

/// The TSM2 forecaster (MambaMixer §5.1, Figure 3):
///
///   x (B, L, M) -> RevIN -> patches (B, M, P, patch_len) -> patch_embed -> (B, M, P, d)
///   -> backbone (𝓛 x {causal time mixer over P per (b, m), bidirectional variate mixer over M
///      per (b, p)}, weighted averaging) -> norm (Norm2D) -> flatten (B, M, P*d) -> dropout
///   -> head (Linear P*d -> H, shared by the variates) -> (B, H, M) -> RevIN undo.
///
/// With auxiliary information (§5.5, Table 6), before patching: the future covariates z
/// (B, pred_len, C_Z) go through a selective channel mixer over the C_Z covariates (each step one
/// covariate's pred_len values; residual; expand 1) and a linear map to seq_len values, Z_proj
/// (B, seq_len), the same for every variate; the static features s (B, M, C_S) through a linear
/// map C_S -> seq_len, S_proj (B, seq_len, M); the backbone then reads [RevIN(x) ‖ Z_proj ‖ S_proj]
/// along time (docs/decisions.md, "Auxiliary information").
///
/// Children (checkpoint prefixes, docs/checkpoint_keys.md): revin, patch_embed, backbone, norm,
/// head; with auxiliary inputs also future_mixer, future_proj, static_proj. The parameter count
/// does not depend on n_vars in the cell layout (241,742 for the defaults; 1,500,350 with
/// pred_len 720).
class TSM2Impl : public torch::nn::Module {
 public:
  /// Throws c10::Error for invalid options (TSM2Options::validate).
  explicit TSM2Impl(const TSM2Options& options = {});

  /// x: (B, seq_len, n_vars) -> (B, pred_len, n_vars), in x's units. z: (B, pred_len, n_future)
  /// when n_future > 0, else undefined; s: (B, n_vars, n_static) when n_static > 0, else
  /// undefined. Throws c10::Error on any other shape or a missing / unexpected z or s.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& z = {}, const torch::Tensor& s = {});

  /// Table of per-module parameter counts (revin, patch_embed, every sub-block, averaging, norm,
  /// head, total) with the options on the first line; used by `mmx info --config`.
  std::string summary() const;

  TSM2Options options;
  nn::RevIN revin{nullptr};
  torch::nn::Linear patch_embed{nullptr};
  nn::MambaMixer backbone{nullptr};
  nn::Norm2D norm{nullptr};
  torch::nn::Dropout head_dropout{nullptr};
  torch::nn::Linear head{nullptr};
  nn::SelectiveChannelMixer future_mixer{nullptr};
  torch::nn::Linear future_proj{nullptr}, static_proj{nullptr};
};
TORCH_MODULE(TSM2);

/// The name and shape of every parameter and buffer that TSM2Impl(options) registers (the
/// module_state / checkpoint keys of docs/checkpoint_keys.md; the order may differ from the
/// module's), computed from
/// the options alone: no tensor is allocated, so a checkpoint's stored config can be compared
/// with its tensors before a model is built. Equals the shapes of a built model (tested for every
/// layout and switch). Throws c10::Error for invalid options (TSM2Options::validate, the
/// token_wise layout) or a shape whose size does not fit int64.
ParameterShapes tsm2_parameter_shapes(const TSM2Options& options);

/// The number of elements of all those tensors (the parameter count), saturating at INT64_MAX.
int64_t tsm2_parameter_count(const TSM2Options& options);

}  // namespace mmx::models
