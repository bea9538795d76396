// The MambaMixer stack (MambaMixer §3.2): pre-norm residual sub-blocks, stochastic depth and the
// weighted averaging of earlier features that connects the token and channel mixers.
#pragma once

#include "mmx/nn/selective_mixer.h"

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mmx::nn {

/// Options of DropPath.
struct DropPathOptions {
  DropPathOptions(double p = 0.0) : p_(p) {}
  /// Probability of dropping a sample's whole branch.
  TORCH_ARG(double, p) = 0.0;
};

/// Stochastic depth per sample (Huang et al. 2016; timm `DropPath`): in training each sample's
/// branch is zeroed with probability p and scaled by 1/(1-p) otherwise; identity in eval or when
/// p = 0. No parameters.
class DropPathImpl : public torch::nn::Module {
 public:
  /// Throws c10::Error unless 0 <= p < 1.
  explicit DropPathImpl(const DropPathOptions& options = {});
  void reset() {}

  /// x: (B, ...) -> same shape; one Bernoulli draw per index of axis 0.
  torch::Tensor forward(const torch::Tensor& x);

  DropPathOptions options;
};
TORCH_MODULE(DropPath);

/// Options of PreNormResidual.
struct PreNormResidualOptions {
  PreNormResidualOptions(double drop_path = 0.0) : drop_path_(drop_path) {}
  TORCH_ARG(double, drop_path) = 0.0;
};

/// The sub-block wrapper of every mixer: out = x + DropPath(mixer(norm(x))) (our choice:
/// docs/decisions.md, "Pre-norm residual wrapper").
///
/// Children (checkpoint prefixes): norm, mixer, drop_path (no parameters).
class PreNormResidualImpl : public torch::nn::Module {
 public:
  /// `norm` and `mixer` must map a tensor to a tensor of the same shape.
  PreNormResidualImpl(torch::nn::AnyModule norm, torch::nn::AnyModule mixer,
                      const PreNormResidualOptions& options = {});

  /// x -> x + DropPath(mixer(norm(x))), same shape.
  torch::Tensor forward(const torch::Tensor& x);

  PreNormResidualOptions options;
  torch::nn::AnyModule norm;
  torch::nn::AnyModule mixer;
  DropPath drop_path{nullptr};
};
TORCH_MODULE(PreNormResidual);

/// Options of WeightedAverage.
struct WeightedAverageOptions {
  WeightedAverageOptions(int64_t n_layers = 2) : n_layers_(n_layers) {}
  /// 𝓛, the number of MambaMixer blocks.
  TORCH_ARG(int64_t, n_layers) = 2;
};

/// Weighted averaging of earlier features (MambaMixer §3.2, after DenseFormer): for block
/// l = 1..𝓛, with y_T^(0) = y_C^(0) = x,
///
///   x_T^(l) = sum_{i<l}  alpha_{l,i} y_T^(i) + sum_{i<l} beta_{l,i}  y_C^(i)
///   x_C^(l) = sum_{i<=l} theta_{l,i} y_T^(i) + sum_{i<l} gamma_{l,i} y_C^(i)
///
/// Every coefficient is one learnable scalar: block l owns l alphas, l betas, l+1 thetas and l
/// gammas, 𝓛(2𝓛+3) in total (the count of §3.3). No softmax, no constraint. Init: beta_{l,l-1} = 1,
/// theta_{l,l} = 1, all others 0 (the stack then starts as a plain sequential stack; see
/// docs/decisions.md, "Averaging weights").
///
/// Parameters: alpha_{l} (l), beta_{l} (l), theta_{l} (l+1), gamma_{l} (l) for l = 1..𝓛 (1-based,
/// as in the paper; entry i of alpha_{l} is alpha_{l,i}).
class WeightedAverageImpl : public torch::nn::Module {
 public:
  /// Throws c10::Error if n_layers < 1.
  explicit WeightedAverageImpl(const WeightedAverageOptions& options = {});
  void reset();

  /// Input of token mixer l (1-based): y_token = [y_T^(0) .. y_T^(k)], y_channel = [y_C^(0) ..
  /// y_C^(k')] with k, k' >= l-1 (only the first l of each are read). All tensors share one shape.
  /// Throws c10::Error if l is out of [1, 𝓛] or a list is too short.
  torch::Tensor token_input(int64_t layer, const std::vector<torch::Tensor>& y_token,
                            const std::vector<torch::Tensor>& y_channel) const;

  /// Input of channel mixer l (1-based): reads y_T^(0..l) and y_C^(0..l-1).
  torch::Tensor channel_input(int64_t layer, const std::vector<torch::Tensor>& y_token,
                              const std::vector<torch::Tensor>& y_channel) const;

  /// 𝓛(2𝓛+3).
  int64_t num_scalars() const;

  WeightedAverageOptions options;
  std::vector<torch::Tensor> alpha, beta, theta, gamma;  ///< index l-1 holds block l's vector
};
TORCH_MODULE(WeightedAverage);

/// Normalisation used by the sub-block wrappers of a MambaMixer stack.
enum class MixerNorm {
  kNorm2D,     ///< per-sample norm over all non-batch axes, affine on d (TSM2 default, §5.1;
               ///< docs/decisions.md, "Norm2D")
  kLayerNorm,  ///< LayerNorm over the feature axis d (plain Mamba / ViM2 style option)
};

/// The token (time) mixer of every block.
enum class TokenMixerKind {
  kSelective,  ///< SelectiveTokenMixer (§3.2; TSM2 and ViM2)
  kLinear,     ///< TimeLinear: one linear layer over P (the "Mamba + Linear time" ablation, Table 7)
};

/// The channel (variate) mixer of every block.
enum class ChannelMixerKind {
  kSelective,  ///< SelectiveChannelMixer (§3.2; TSM2 and ViM2)
  kMLP,        ///< VariateMLP: an MLP over M (the TSM2-MLP ablation, Table 7)
};

/// Options of MambaMixer.
struct MambaMixerOptions {
  MambaMixerOptions(int64_t d_model = 32, int64_t n_layers = 2) : d_model_(d_model), n_layers_(n_layers) {}

  /// d, the width of one (variate, patch) cell.
  TORCH_ARG(int64_t, d_model) = 32;
  /// 𝓛, the number of blocks (each = token mixer + channel mixer).
  TORCH_ARG(int64_t, n_layers) = 2;
  TORCH_ARG(int64_t, d_state) = 16;
  TORCH_ARG(int64_t, d_conv) = 4;
  TORCH_ARG(int64_t, expand) = 2;
  /// R of every S6; nullopt = "auto" (ceil of the step width / 16).
  TORCH_ARG(std::optional<int64_t>, dt_rank) = std::nullopt;
  /// Token (time) mixer direction: false = causal (TSM2, §5.1).
  TORCH_ARG(bool, token_bidirectional) = false;
  /// Channel (variate) mixer direction: true = forward + flipped (§3.2, §5.1).
  TORCH_ARG(bool, channel_bidirectional) = true;
  TORCH_ARG(ChannelMixerLayout, channel_layout) = ChannelMixerLayout::kCell;
  /// P; required by the literal channel layout only.
  TORCH_ARG(int64_t, n_tokens) = 0;
  TORCH_ARG(MixerNorm, norm) = MixerNorm::kNorm2D;
  TORCH_ARG(double, norm_eps) = 1e-5;
  /// Stochastic depth rate of every sub-block.
  TORCH_ARG(double, drop_path) = 0.0;
  /// Initial values of every S6 of the token and channel mixers (see S6InitOptions).
  TORCH_ARG(S6InitOptions, s6_init) = {};
  TORCH_ARG(TokenMixerKind, token_mixer) = TokenMixerKind::kSelective;
  TORCH_ARG(ChannelMixerKind, channel_mixer) = ChannelMixerKind::kSelective;
  /// M; required by ChannelMixerKind::kMLP only.
  TORCH_ARG(int64_t, n_channels) = 0;
  /// false: the blocks run one after the other (x -> block 1 -> ... -> block 𝓛) with no averaging
  /// weights (the TSM2-MLP ablation, Table 7).
  TORCH_ARG(bool, weighted_average) = true;
};

/// One MambaMixer block: token mixer then channel mixer, each in a PreNormResidual wrapper.
/// Children: token_mixer, channel_mixer.
class MambaMixerBlockImpl : public torch::nn::Module {
 public:
  explicit MambaMixerBlockImpl(const MambaMixerOptions& options = {});

  /// The block without weighted averaging: channel_mixer(token_mixer(x)), x (B, M, P, d).
  torch::Tensor forward(const torch::Tensor& x);

  PreNormResidual token_mixer{nullptr};
  PreNormResidual channel_mixer{nullptr};
};
TORCH_MODULE(MambaMixerBlock);

/// The MambaMixer stack on a (B, M, P, d) grid of d-vectors (MambaMixer §3.2, TSM2 §5.1): 𝓛
/// blocks whose token mixers run along P for every (b, m) and whose channel mixers run along M for
/// every (b, p), connected by WeightedAverage. The output is y_C^(𝓛), the last channel mixer's
/// output (no final average). With weighted_average off, the blocks are a plain sequential stack
/// and `averaging` is null; the mixer kinds select the ablations' mixers (TokenMixerKind,
/// ChannelMixerKind).
///
/// Children (checkpoint prefixes): blocks.{l-1}.token_mixer.{norm,mixer}.*,
/// blocks.{l-1}.channel_mixer.{norm,mixer}.*, averaging.{alpha,beta,theta,gamma}_{l}.
class MambaMixerImpl : public torch::nn::Module {
 public:
  /// Throws c10::Error for invalid options (n_layers < 1, d_model < 1, n_channels < 1 with the MLP
  /// channel mixer, n_tokens < 1 with the linear token mixer, see the mixers).
  explicit MambaMixerImpl(const MambaMixerOptions& options = {});

  /// x: (B, M, P, d) -> (B, M, P, d). Throws c10::Error if x is not 4-D or x.size(3) != d_model.
  torch::Tensor forward(const torch::Tensor& x);

  MambaMixerOptions options;
  torch::nn::ModuleList blocks;
  WeightedAverage averaging{nullptr};
};
TORCH_MODULE(MambaMixer);

/// Number of scalars in `module`'s parameters; with a `prefix` (e.g. "backbone.blocks.0"), only
/// the parameters named `prefix` or `prefix.*`.
int64_t count_parameters(const torch::nn::Module& module, const std::string& prefix = "");

}  // namespace mmx::nn
