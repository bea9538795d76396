// DropPath, the pre-norm residual wrapper, weighted averaging and the MambaMixer stack of
// arXiv 2403.19888, and parameter counting. (The weight-decay groups live in
// src/train/param_groups.cpp.)
#include "mmx/nn/mamba_mixer.h"

#include "mmx/nn/ablation_mixers.h"
#include "mmx/nn/norm.h"

namespace mmx::nn {

// ---------------------------------------------------------------------------------------------
// DropPath

DropPathImpl::DropPathImpl(const DropPathOptions& options_) : options(options_) {
  TORCH_CHECK(options.p() >= 0.0 && options.p() < 1.0, "DropPath: p must be in [0, 1), got ", options.p());
}

torch::Tensor DropPathImpl::forward(const torch::Tensor& x) {
  if (!is_training() || options.p() == 0.0) return x;
  const double keep = 1.0 - options.p();
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  auto mask = torch::empty(shape, x.options()).bernoulli_(keep);
  return x * mask / keep;
}

// ---------------------------------------------------------------------------------------------
// PreNormResidual

PreNormResidualImpl::PreNormResidualImpl(torch::nn::AnyModule norm_, torch::nn::AnyModule mixer_,
                                         const PreNormResidualOptions& options_)
    : options(options_), norm(std::move(norm_)), mixer(std::move(mixer_)) {
  TORCH_CHECK(!norm.is_empty() && !mixer.is_empty(), "PreNormResidual: norm and mixer are required");
  register_module("norm", norm.ptr());
  register_module("mixer", mixer.ptr());
  drop_path = register_module("drop_path", DropPath(DropPathOptions(options.drop_path())));
}

torch::Tensor PreNormResidualImpl::forward(const torch::Tensor& x) {
  return x + drop_path(mixer.forward(norm.forward(x)));
}

// ---------------------------------------------------------------------------------------------
// WeightedAverage

namespace {

// sum_i w[i] * ys[i] for i < w.numel().
torch::Tensor weighted_sum(const torch::Tensor& w, const std::vector<torch::Tensor>& ys) {
  torch::Tensor out;
  for (int64_t i = 0; i < w.size(0); ++i) {
    auto term = w[i] * ys[i];
    out = out.defined() ? out + term : term;
  }
  return out;
}

}  // namespace

WeightedAverageImpl::WeightedAverageImpl(const WeightedAverageOptions& options_) : options(options_) { reset(); }

void WeightedAverageImpl::reset() {
  const int64_t n = options.n_layers();
  TORCH_CHECK(n >= 1, "WeightedAverage: n_layers must be >= 1, got ", n);
  for (int64_t l = 1; l <= n; ++l) {
    const auto name = [l](std::string base) { return base.append("_").append(std::to_string(l)); };
    auto b = torch::zeros({l});
    b[l - 1] = 1.0;  // beta_{l,l-1}: token mixer l reads channel mixer l-1 (x for l = 1)
    auto t = torch::zeros({l + 1});
    t[l] = 1.0;  // theta_{l,l}: channel mixer l reads token mixer l
    alpha.push_back(register_parameter(name("alpha"), torch::zeros({l})));
    beta.push_back(register_parameter(name("beta"), b));
    theta.push_back(register_parameter(name("theta"), t));
    gamma.push_back(register_parameter(name("gamma"), torch::zeros({l})));
  }
}

torch::Tensor WeightedAverageImpl::token_input(int64_t layer, const std::vector<torch::Tensor>& y_token,
                                               const std::vector<torch::Tensor>& y_channel) const {
  TORCH_CHECK(layer >= 1 && layer <= options.n_layers(), "WeightedAverage: layer must be in [1, ", options.n_layers(),
              "], got ", layer);
  TORCH_CHECK(static_cast<int64_t>(y_token.size()) >= layer && static_cast<int64_t>(y_channel.size()) >= layer,
              "WeightedAverage: token input ", layer, " needs y_T^(0..", layer - 1, ") and y_C^(0..", layer - 1,
              "), got ", y_token.size(), " and ", y_channel.size(), " tensors");
  return weighted_sum(alpha[layer - 1], y_token) + weighted_sum(beta[layer - 1], y_channel);
}

torch::Tensor WeightedAverageImpl::channel_input(int64_t layer, const std::vector<torch::Tensor>& y_token,
                                                 const std::vector<torch::Tensor>& y_channel) const {
  TORCH_CHECK(layer >= 1 && layer <= options.n_layers(), "WeightedAverage: layer must be in [1, ", options.n_layers(),
              "], got ", layer);
  TORCH_CHECK(static_cast<int64_t>(y_token.size()) >= layer + 1 && static_cast<int64_t>(y_channel.size()) >= layer,
              "WeightedAverage: channel input ", layer, " needs y_T^(0..", layer, ") and y_C^(0..", layer - 1,
              "), got ", y_token.size(), " and ", y_channel.size(), " tensors");
  return weighted_sum(theta[layer - 1], y_token) + weighted_sum(gamma[layer - 1], y_channel);
}

int64_t WeightedAverageImpl::num_scalars() const {
  const int64_t n = options.n_layers();
  return n * (2 * n + 3);
}

// ---------------------------------------------------------------------------------------------
// MambaMixer

namespace {

torch::nn::AnyModule make_norm(const MambaMixerOptions& o) {
  if (o.norm() == MixerNorm::kLayerNorm) {
    return torch::nn::AnyModule(torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.d_model()}).eps(o.norm_eps())));
  }
  return torch::nn::AnyModule(Norm2D(Norm2DOptions(o.d_model()).eps(o.norm_eps())));
}

torch::nn::AnyModule make_token_mixer(const MambaMixerOptions& o) {
  if (o.token_mixer() == TokenMixerKind::kLinear)
    return torch::nn::AnyModule(TimeLinear(TimeLinearOptions(o.n_tokens())));
  return torch::nn::AnyModule(SelectiveTokenMixer(SelectiveTokenMixerOptions(o.d_model())
                                                      .d_state(o.d_state())
                                                      .d_conv(o.d_conv())
                                                      .expand(o.expand())
                                                      .dt_rank(o.dt_rank())
                                                      .bidirectional(o.token_bidirectional())
                                                      .s6_init(o.s6_init())));
}

torch::nn::AnyModule make_channel_mixer(const MambaMixerOptions& o) {
  if (o.channel_mixer() == ChannelMixerKind::kMLP)
    return torch::nn::AnyModule(VariateMLP(VariateMLPOptions(o.n_channels())));
  return torch::nn::AnyModule(SelectiveChannelMixer(SelectiveChannelMixerOptions(o.d_model())
                                                        .layout(o.channel_layout())
                                                        .n_tokens(o.n_tokens())
                                                        .d_state(o.d_state())
                                                        .d_conv(o.d_conv())
                                                        .expand(o.expand())
                                                        .dt_rank(o.dt_rank())
                                                        .bidirectional(o.channel_bidirectional())
                                                        .s6_init(o.s6_init())));
}

}  // namespace

MambaMixerBlockImpl::MambaMixerBlockImpl(const MambaMixerOptions& o) {
  token_mixer = register_module(
      "token_mixer", PreNormResidual(make_norm(o), make_token_mixer(o), PreNormResidualOptions(o.drop_path())));
  channel_mixer = register_module(
      "channel_mixer", PreNormResidual(make_norm(o), make_channel_mixer(o), PreNormResidualOptions(o.drop_path())));
}

torch::Tensor MambaMixerBlockImpl::forward(const torch::Tensor& x) { return channel_mixer(token_mixer(x)); }

MambaMixerImpl::MambaMixerImpl(const MambaMixerOptions& options_) : options(options_) {
  TORCH_CHECK(options.n_layers() >= 1, "MambaMixer: n_layers must be >= 1, got ", options.n_layers());
  TORCH_CHECK(options.d_model() >= 1, "MambaMixer: d_model must be >= 1, got ", options.d_model());
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t l = 0; l < options.n_layers(); ++l) blocks->push_back(MambaMixerBlock(options));
  if (options.weighted_average())
    averaging = register_module("averaging", WeightedAverage(WeightedAverageOptions(options.n_layers())));
}

torch::Tensor MambaMixerImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(3) == options.d_model(),
              "MambaMixer: x must have shape (B, M, P, d) with d = ", options.d_model(), ", got ", x.sizes());
  if (!options.weighted_average()) {
    torch::Tensor h = x;
    for (const auto& block : *blocks) h = block->as<MambaMixerBlock>()->forward(h);
    return h;
  }
  std::vector<torch::Tensor> y_token{x}, y_channel{x};  // y_T^(0) = y_C^(0) = x
  for (int64_t l = 1; l <= options.n_layers(); ++l) {
    auto* block = blocks[l - 1]->as<MambaMixerBlock>();
    y_token.push_back(block->token_mixer(averaging->token_input(l, y_token, y_channel)));
    y_channel.push_back(block->channel_mixer(averaging->channel_input(l, y_token, y_channel)));
  }
  return y_channel.back();
}

// ---------------------------------------------------------------------------------------------
// Parameter count

int64_t count_parameters(const torch::nn::Module& module, const std::string& prefix) {
  // "blocks.1" matches "blocks.1" and "blocks.1.*", not "blocks.10.*".
  const std::string dotted = prefix.empty() || prefix.back() == '.' ? prefix : prefix + ".";
  int64_t n = 0;
  for (const auto& p : module.named_parameters()) {
    const auto& name = p.key();
    if (name == prefix || name.compare(0, dotted.size(), dotted) == 0) n += p.value().numel();
  }
  return n;
}

}  // namespace mmx::nn
