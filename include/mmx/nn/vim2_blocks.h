// The building blocks of ViM2 (paper-spec §2.5, §3.3, §4.1–§4.5): K stacked S6 scans sharing one
// launch, the SS2D token mixer, the CM-literal and CM-token-wise channel mixers, the stage-wise
// generalised weighted averaging, Swin patch merging, and one ViM2 stage.
//
// Layout convention: image tokens are channels-last, x (B, H, W, C), as in VMamba.
#pragma once

#include "mmx/nn/mamba_mixer.h"

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mmx::nn {

/// Options of StackedS6.
struct StackedS6Options {
  StackedS6Options(int64_t d_inner = 64, int64_t n_directions = 4)
      : d_inner_(d_inner), n_directions_(n_directions) {}
  /// E, the channels of one direction.
  TORCH_ARG(int64_t, d_inner) = 64;
  /// K, the number of directions (scan orders), each with its own parameters.
  TORCH_ARG(int64_t, n_directions) = 4;
  TORCH_ARG(int64_t, d_state) = 16;
  /// R of every direction (VMamba: ceil(C / 16) for a token mixer of width C).
  TORCH_ARG(int64_t, dt_rank) = 1;
  TORCH_ARG(double, dt_min) = 1e-3;
  TORCH_ARG(double, dt_max) = 0.1;
  TORCH_ARG(double, dt_init_floor) = 1e-4;
  TORCH_ARG(double, dt_scale) = 1.0;
  /// Rebuild the scan's saved states in the backward instead of keeping them (training memory;
  /// SelectiveScanOptions::recompute_states).
  TORCH_ARG(bool, scan_recompute) = false;
};

/// K independent S6 layers (paper-spec §2.3: one parameter set per scan order) stored stacked so
/// that several directions run as ONE selective-scan call with G = count groups of B/C
/// (VMamba's layout).
///
/// Parameters: x_proj_weight (K, R+2N, E), dt_projs_weight (K, E, R), dt_projs_bias (K, E),
/// A_logs (K*E, N), Ds (K*E). Init per direction as S6 ([MAMBA]): A_log[e, n] = ln(n+1), D = 1,
/// softplus(dt bias) log-uniform in [dt_min, dt_max], dt weight U(+-dt_scale/sqrt(R)),
/// x_proj U(+-1/sqrt(E)).
class StackedS6Impl : public torch::nn::Module {
 public:
  explicit StackedS6Impl(const StackedS6Options& options = {});
  void reset();

  /// Runs directions [first, first+count): u (B, count*E, L), channel block j holding the input
  /// of direction first+j -> (B, count*E, L) in u's dtype. `reverse` scans every sequence from
  /// the last step to the first (equal to flip(scan(flip(u)))). Throws c10::Error on a shape
  /// mismatch or a direction range outside [0, K).
  torch::Tensor forward(const torch::Tensor& u, int64_t first, int64_t count, bool reverse);

  StackedS6Options options;
  torch::Tensor x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds;
};
TORCH_MODULE(StackedS6);

/// Options of SS2D.
struct SS2DOptions {
  SS2DOptions(int64_t d_model = 96) : d_model_(d_model) {}
  /// C, the token width.
  TORCH_ARG(int64_t, d_model) = 96;
  /// E = expand * C.
  TORCH_ARG(int64_t, expand) = 2;
  TORCH_ARG(int64_t, d_state) = 16;
  /// Side of the depthwise 2D conv (3).
  TORCH_ARG(int64_t, d_conv) = 3;
  /// Keep the LayerNorm on the merged scans (VMamba out_norm).
  TORCH_ARG(bool, out_norm) = true;
  TORCH_ARG(double, norm_eps) = 1e-5;
  /// Rebuild the scan's saved states in the backward instead of keeping them (training memory;
  /// SelectiveScanOptions::recompute_states).
  TORCH_ARG(bool, scan_recompute) = false;
};

/// The ViM2 token mixer = VMamba's SS2D (paper-spec §4.3): for x̂ (B, H, W, C),
///   [u; z] = in_proj(x̂); u' = SiLU(DWConv3x3(u)); four scans of u' (row-major, column-major and
///   their reverses) with their own S6 parameters; the outputs summed back on the grid;
///   y = out_norm(sum) * SiLU(z); out = out_proj(y).
/// Cross-scan and cross-merge are index maps (flatten / transpose views); the two reversed
/// directions use the kernel's reverse flag instead of flipped copies.
///
/// Parameters: in_proj.weight (2E, C), conv2d.weight (E, 1, k, k), conv2d.bias (E), s6.* (K = 4),
/// out_norm.{weight,bias} (E), out_proj.weight (C, E). R = ceil(C / 16).
class SS2DImpl : public torch::nn::Module {
 public:
  explicit SS2DImpl(const SS2DOptions& options = {});
  /// x: (B, H, W, C) -> (B, H, W, C). Throws c10::Error if x is not 4-D or x.size(3) != C.
  torch::Tensor forward(const torch::Tensor& x);

  SS2DOptions options;
  torch::nn::Linear in_proj{nullptr};
  torch::nn::Conv2d conv2d{nullptr};
  StackedS6 s6{nullptr};
  torch::nn::LayerNorm out_norm{nullptr};
  torch::nn::Linear out_proj{nullptr};
};
TORCH_MODULE(SS2D);

/// Options of the ViM2 channel mixers.
struct ChannelMixer2DOptions {
  ChannelMixer2DOptions(int64_t d_model = 96, int64_t side = 56)
      : d_model_(d_model), side_(side) {}
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
  /// Rebuild the scan's saved states in the backward instead of keeping them (training memory;
  /// SelectiveScanOptions::recompute_states).
  TORCH_ARG(bool, scan_recompute) = false;
};

/// CM-literal ViM2 channel mixer (paper-spec §4.4 DEFAULT). For x̂ (B, H, W, C), L = H W:
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

/// CM-token-wise ViM2 channel mixer (paper-spec §2.5 OPTION; resolution-free). For every token p
/// separately: u_p = W_in x̂_p, z_p = W_z x̂_p (E_c each); the E_c entries of u_p are a scalar
/// sequence; two directions (forward and reversed entry order) each apply a scalar causal conv
/// (d_conv, bias) and a scalar S6 (E = 1, R = 1); out_p = W_out ((a_fwd + a_rev) ⊙ SiLU(z_p)).
/// `side` and `n_branches` of the options are ignored.
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

/// Options of StageAverage.
struct StageAverageOptions {
  StageAverageOptions(int64_t n_subblocks = 3) : n_subblocks_(n_subblocks) {}
  /// n, the number of sub-blocks S_1..S_n of the stage.
  TORCH_ARG(int64_t, n_subblocks) = 3;
};

/// Generalised weighted averaging of earlier features (paper-spec §3.3): with o_0 = x (stage
/// input) and o_j the output of sub-block j,
///   input(S_k) = (w'_{k,0} + w_{k,0}) x + Σ_{j=1}^{k-1} w_{k,j} o_j,   k = 1..n,
/// k+1 learnable scalars per sub-block (n(n+3)/2 in all; = 𝓛(2𝓛+3) of §3.1 when n = 2𝓛).
/// Init: w_{k,k-1} = 1, all others 0 (a plain sequential stack).
///
/// Parameters: w_{k} (k+1) for k = 1..n; entry 0 is w'_{k,0}, entry j+1 is w_{k,j}.
class StageAverageImpl : public torch::nn::Module {
 public:
  /// Throws c10::Error if n_subblocks < 1.
  explicit StageAverageImpl(const StageAverageOptions& options = {});
  void reset();
  /// Input of sub-block k (1-based) from outputs = [o_0, ..., o_{k-1}] (at least k tensors of
  /// one shape). Throws c10::Error if k is outside [1, n] or outputs is too short.
  torch::Tensor input(int64_t k, const std::vector<torch::Tensor>& outputs) const;
  /// n(n+3)/2.
  int64_t num_scalars() const;

  StageAverageOptions options;
  std::vector<torch::Tensor> weights;  ///< index k-1 holds w_{k}
};
TORCH_MODULE(StageAverage);

/// Swin patch merging (paper-spec §4.1 item 3, VMamba "v1"): (B, H, W, C) -> concat of the 2x2
/// neighbours [x(0::2, 0::2), x(1::2, 0::2), x(0::2, 1::2), x(1::2, 1::2)] (B, H/2, W/2, 4C)
/// -> LayerNorm(4C) -> Linear(4C -> 2C, no bias). Odd H or W are zero-padded by one row/column.
///
/// Parameters: norm.{weight,bias} (4C), reduction.weight (2C, 4C).
class PatchMerging2DImpl : public torch::nn::Module {
 public:
  explicit PatchMerging2DImpl(int64_t dim = 96, double eps = 1e-5);
  /// x: (B, H, W, C) -> (B, ceil(H/2), ceil(W/2), 2C). Throws c10::Error if x.size(3) != C.
  torch::Tensor forward(const torch::Tensor& x);

  int64_t dim;
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear reduction{nullptr};
};
TORCH_MODULE(PatchMerging2D);

/// Options of ViM2Stage.
struct ViM2StageOptions {
  ViM2StageOptions(int64_t dim = 96, int64_t side = 56) : dim_(dim), side_(side) {}
  /// C of the stage.
  TORCH_ARG(int64_t, dim) = 96;
  /// H = W of the stage's token grid.
  TORCH_ARG(int64_t, side) = 56;
  /// n_C: the stage runs its unit (block_order) this many times.
  TORCH_ARG(int64_t, depth) = 1;
  /// "TTC" (DEFAULT, §4.5) or "TCT".
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
  /// Rebuild the scan's saved states in the backward instead of keeping them (training memory;
  /// SelectiveScanOptions::recompute_states).
  TORCH_ARG(bool, scan_recompute) = false;
};

/// One ViM2 stage (paper-spec §4.5): depth x (T, T, C) sub-blocks, each a pre-norm residual
/// wrapper (LayerNorm over C, §2.1) around SS2D (T) or a channel mixer (C), connected by the
/// stage's StageAverage (or sequentially when weighted_average is false). Output: the last
/// sub-block's output.
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
