// One ViM2 stage: (T, T, C) pre-norm residual sub-blocks joined by stage-wise weighted averaging
// (MambaMixer §4.1, §3.2).
//
// Layout convention: image tokens are channels-last, x (B, H, W, C), as in VMamba.
#pragma once

#include "mmx/nn/s6.h"
#include "mmx/nn/stage_average.h"

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mmx::nn {

/// Options of ViM2Stage.
struct ViM2StageOptions {
  ViM2StageOptions(int64_t dim = 96, int64_t side = 56) : dim_(dim), side_(side) {}
  /// C of the stage.
  TORCH_ARG(int64_t, dim) = 96;
  /// H = W of the stage's token grid.
  TORCH_ARG(int64_t, side) = 56;
  /// n_C: the stage runs its unit (block_order) this many times.
  TORCH_ARG(int64_t, depth) = 1;
  /// "TTC" (our default: docs/decisions.md, "ViM2 sub-block order") or "TCT".
  TORCH_ARG(std::string, block_order) = "TTC";
  TORCH_ARG(int64_t, expand) = 2;
  TORCH_ARG(int64_t, d_state) = 16;
  TORCH_ARG(int64_t, d_conv) = 3;
  TORCH_ARG(bool, out_norm) = true;
  /// E_c of the channel mixers.
  TORCH_ARG(int64_t, channel_d_inner) = 192;
  TORCH_ARG(int64_t, channel_d_conv) = 4;
  /// "literal" or "token_wise".
  TORCH_ARG(std::string, channel_layout) = "literal";
  TORCH_ARG(int64_t, channel_branches) = 4;
  TORCH_ARG(bool, weighted_average) = true;
  /// DropPath rate of each sub-block, in order (size 3 * depth); empty = all 0.
  TORCH_ARG(std::vector<double>, drop_path) = {};
  TORCH_ARG(double, norm_eps) = 1e-5;
  /// Initial values of the S6 parameters of every mixer (see S6InitOptions).
  TORCH_ARG(S6InitOptions, s6_init) = {};
  /// Rebuild the scan's saved states in the backward instead of keeping them (training memory;
  /// SelectiveScanOptions::recompute_states).
  TORCH_ARG(bool, scan_recompute) = false;
};

/// One ViM2 stage (MambaMixer §4.1; n_T = 2 n_C token and channel mixers per stage, Table 8):
/// depth x (T, T, C) sub-blocks (order: docs/decisions.md, "ViM2 sub-block order"), each a
/// pre-norm residual wrapper (LayerNorm over C; docs/decisions.md, "Pre-norm residual wrapper")
/// around SS2D (T) or a channel mixer (C), connected by the stage's StageAverage (or sequentially
/// when weighted_average is false). Output: the last sub-block's output.
///
/// Children: blocks.{i}.{norm,mixer}, averaging.w_{k}.
class ViM2StageImpl : public torch::nn::Module {
 public:
  /// Throws c10::Error for an invalid block_order / channel_layout or drop_path size.
  explicit ViM2StageImpl(const ViM2StageOptions& options = {});
  /// x: (B, H, W, C) -> same shape.
  torch::Tensor forward(const torch::Tensor& x);

  ViM2StageOptions options;
  torch::nn::ModuleList blocks;
  StageAverage averaging{nullptr};
};
TORCH_MODULE(ViM2Stage);

}  // namespace mmx::nn
