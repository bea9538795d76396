// ViM2: the MambaMixer vision backbone and classifier (MambaMixer §4.1, Table 8 in Appendix A).
#pragma once

#include "mmx/models/parameter_shapes.h"
#include "mmx/nn/patch_merging.h"
#include "mmx/nn/vim2_stage.h"

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mmx::models {

/// Options of ViM2. Defaults: ViM2-T at 224 px (Table 8), CM-literal channel mixers with K = 4
/// (docs/decisions.md, "ViM2 channel mixer"), (T, T, C) units (docs/decisions.md, "ViM2 sub-block
/// order"), drop-path 0.2 (VMamba-T).
struct ViM2Options {
  ViM2Options() = default;

  /// Input height = width in pixels; fixes the token count of every stage (CM-literal).
  TORCH_ARG(int64_t, image_size) = 224;
  TORCH_ARG(int64_t, in_chans) = 3;
  TORCH_ARG(int64_t, num_classes) = 1000;
  /// Stem conv kernel = stride (4 for 224 px; 1 or 2 for 32 px CIFAR inputs).
  TORCH_ARG(int64_t, patch_size) = 4;
  /// C_s, the width of stage s = 1..4.
  TORCH_ARG(std::vector<int64_t>, dims) = std::vector<int64_t>({96, 192, 384, 768});
  /// n_C per stage: the stage runs its (T, T, C) unit this many times (n_T = 2 n_C).
  TORCH_ARG(std::vector<int64_t>, depths) = std::vector<int64_t>({1, 1, 3, 1});
  /// E_c per stage (Table 8: 2C in stages 1-3, C in stage 4).
  TORCH_ARG(std::vector<int64_t>, channel_d_inner) = std::vector<int64_t>({192, 384, 768, 768});
  TORCH_ARG(int64_t, d_state) = 16;
  /// Token mixer E = expand * C.
  TORCH_ARG(int64_t, expand) = 2;
  /// Kernel of the token mixer's depthwise 2D conv (3 x 3).
  TORCH_ARG(int64_t, d_conv) = 3;
  /// Kernel of the channel mixer's causal 1D convs.
  TORCH_ARG(int64_t, channel_d_conv) = 4;
  /// "literal" (default, K branches, tied to the token count) or "token_wise" (resolution-free;
  /// docs/decisions.md, "Token-wise channel mixer").
  TORCH_ARG(std::string, channel_layout) = "literal";
  /// K of the channel mixer: 4 (default, row/column-major x forward/reversed) or 2 (row-major
  /// only; docs/decisions.md, "ViM2 channel mixer").
  TORCH_ARG(int64_t, channel_branches) = 4;
  /// Sub-block order of one stage unit: "TTC" (default) or "TCT" (docs/decisions.md, "ViM2
  /// sub-block order").
  TORCH_ARG(std::string, block_order) = "TTC";
  /// Stage-wise weighted averaging (§3.2, §4.1; docs/decisions.md, "Stage-wise averaging");
  /// false = plain sequential stack.
  TORCH_ARG(bool, weighted_average) = true;
  /// LayerNorm on the merged scan output before the gate (VMamba SS2D out_norm).
  TORCH_ARG(bool, out_norm) = true;
  /// Stochastic depth, increasing linearly over all sub-blocks from 0 to this rate (VMamba's
  /// schedule; the paper gives no rate).
  TORCH_ARG(double, drop_path_rate) = 0.2;
  TORCH_ARG(double, norm_eps) = 1e-5;
  /// Training memory: rebuild every scan's saved states in its backward (one more scan forward
  /// per backward, same gradients bit for bit; SelectiveScanOptions::recompute_states). Not part
  /// of the architecture: checkpoints load either way.
  TORCH_ARG(bool, scan_recompute) = false;

 public:
  /// Side length of stage s (0-based) tokens: image_size / patch_size / 2^s.
  int64_t stage_resolution(int64_t stage) const;
  /// Total number of sub-blocks (3 * sum(depths)).
  int64_t n_subblocks() const;
  /// Throws c10::Error naming the first invalid field (sizes, lists of length 4, divisibility).
  void validate() const;

  /// ViM2-T / -S / -B at 224 px (Table 8; drop-path 0.2 / 0.3 / 0.5 as VMamba-T / -S / -B).
  static ViM2Options tiny();
  static ViM2Options small();
  static ViM2Options base();
};

/// "vim2_tiny" | "vim2_small" | "vim2_base" -> options; throws c10::Error naming the valid ones.
ViM2Options vim2_preset(const std::string& name);

/// The ViM2 classifier (MambaMixer §4.1, Figure 2; head as Table 8):
///
///   x (B, 3, H, W) -> stem (conv patch_size/patch_size, LayerNorm) -> (B, H/p, W/p, C_1)
///   -> 4 stages (stages 2-4 open with Swin patch merging), each a ViM2Stage of (T, T, C) units
///   with stage-wise weighted averaging -> LayerNorm -> mean over tokens -> Linear -> logits.
///
/// Children (checkpoint prefixes): stem, stem_norm, stages.{s}, merges.{s-1} (s = 1..3),
/// norm, head.
class ViM2Impl : public torch::nn::Module {
 public:
  /// Throws c10::Error for invalid options (ViM2Options::validate).
  explicit ViM2Impl(const ViM2Options& options = {});

  /// x: (B, in_chans, image_size, image_size), float -> logits (B, num_classes) (no softmax).
  /// With channel_layout "token_wise" any H = W divisible by patch_size * 8 is accepted.
  /// Throws c10::Error naming the expected shape otherwise.
  torch::Tensor forward(const torch::Tensor& x);

  /// The four stage outputs (B, H_s, W_s, C_s) (backbone use: detection / segmentation).
  std::vector<torch::Tensor> forward_features(const torch::Tensor& x);

  /// Per-module parameter counts and the FLOPs of one image (convention: vim2_flops).
  std::string summary() const;

  ViM2Options options;
  torch::nn::Conv2d stem{nullptr};
  torch::nn::LayerNorm stem_norm{nullptr};
  torch::nn::ModuleList merges;
  torch::nn::ModuleList stages;
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(ViM2);

/// The name and shape of every parameter and buffer that ViM2Impl(options) registers (the
/// module_state / checkpoint keys; the order may differ from the module's), computed from the options alone: no
/// tensor is allocated, so a checkpoint's stored config can be compared with its tensors before a
/// model is built. Equals the shapes of a built model (tested for the presets and every layout,
/// order and switch). Throws c10::Error for invalid options (ViM2Options::validate) or a shape
/// whose size does not fit int64.
ParameterShapes vim2_parameter_shapes(const ViM2Options& options);

/// The number of elements of all those tensors (the parameter count), saturating at INT64_MAX.
int64_t vim2_parameter_count(const ViM2Options& options);

/// FLOPs of one forward pass for one image at options.image_size, counted as in VMamba's
/// fvcore tables: one multiply-add = 1 FLOP for convs and linears, 9 * L * E * N per selective
/// scan (plus L * E for the D skip); norms, activations, pooling and averaging are not counted.
int64_t vim2_flops(const ViM2Options& options);

}  // namespace mmx::models
