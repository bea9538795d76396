// The selective token and channel mixers of MambaMixer §3.2 (the Mamba block body, run along
// the tokens or along the channels).
#include "mmx/nn/selective_mixer.h"

namespace mmx::nn {

namespace F = torch::nn::functional;

// ---------------------------------------------------------------------------------------------
// SelectiveTokenMixer

SelectiveTokenMixerImpl::SelectiveTokenMixerImpl(const SelectiveTokenMixerOptions& options_) : options(options_) {
  const int64_t D = options.d_model();
  const int64_t E = options.resolved_d_inner();
  TORCH_CHECK(D >= 1 && E >= 1, "SelectiveTokenMixer: d_model and d_inner must be >= 1, got ", D, ", ", E);
  in_proj = register_module("in_proj", torch::nn::Linear(torch::nn::LinearOptions(D, 2 * E).bias(false)));
  conv1d = register_module("conv1d", torch::nn::ModuleList());
  s6 = register_module("s6", torch::nn::ModuleList());
  for (int64_t k = 0; k < options.n_directions(); ++k) {
    const bool reverse = k == 1;
    conv1d->push_back(CausalConv1d(CausalConv1dOptions(E, options.d_conv()).reverse(reverse)));
    s6->push_back(S6(S6Options(D)
                         .d_inner(E)
                         .d_state(options.d_state())
                         .dt_rank(options.resolved_dt_rank())
                         .s6_init(options.s6_init())
                         .reverse(reverse)));
  }
  out_proj = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(E, D).bias(false)));
}

torch::Tensor SelectiveTokenMixerImpl::forward(const torch::Tensor& x) {
  const int64_t D = options.d_model();
  TORCH_CHECK(x.dim() >= 2 && x.size(-1) == D, "SelectiveTokenMixer: x must have shape (*, L, D) with D = ", D,
              ", got ", x.sizes());
  const int64_t L = x.size(-2);
  auto seq = x.reshape({-1, L, D});        // (B', L, D)
  auto xz = in_proj(seq).transpose(1, 2);  // (B', 2E, L)
  auto uz = xz.chunk(2, 1);
  const auto& u = uz[0];
  const auto& z = uz[1];
  torch::Tensor g;
  for (size_t k = 0; k < s6->size(); ++k) {
    auto a = F::silu(conv1d[k]->as<CausalConv1d>()->forward(u));
    auto y = s6[k]->as<S6>()->forward(a, z);  // S6_k(...) * SiLU(z)
    g = g.defined() ? g + y : y;
  }
  auto out = out_proj(g.transpose(1, 2));  // (B', L, D)
  return out.reshape(x.sizes());
}

// ---------------------------------------------------------------------------------------------
// SelectiveChannelMixer

ChannelMixerLayout parse_channel_mixer_layout(const std::string& name) {
  if (name == "cell") return ChannelMixerLayout::kCell;
  if (name == "literal") return ChannelMixerLayout::kLiteral;
  if (name == "token_wise") return ChannelMixerLayout::kTokenWise;
  TORCH_CHECK(false, "channel mixer layout must be one of cell, literal, token_wise; got '", name, "'");
}

std::string to_string(ChannelMixerLayout layout) {
  switch (layout) {
    case ChannelMixerLayout::kCell:
      return "cell";
    case ChannelMixerLayout::kLiteral:
      return "literal";
    case ChannelMixerLayout::kTokenWise:
      return "token_wise";
  }
  return "unknown";
}

int64_t SelectiveChannelMixerOptions::step_features() const {
  TORCH_CHECK(layout_ != ChannelMixerLayout::kTokenWise,
              "SelectiveChannelMixer: the token_wise layout is not implemented for (B, M, P, d) "
              "grids (ViM2 has nn::TokenWiseChannelMixer)");
  if (layout_ == ChannelMixerLayout::kCell) return d_model_;
  TORCH_CHECK(n_tokens_ >= 1, "SelectiveChannelMixer: the literal layout needs n_tokens >= 1, got ", n_tokens_);
  return n_tokens_ * d_model_;
}

SelectiveTokenMixerOptions SelectiveChannelMixerOptions::body_options() const {
  return SelectiveTokenMixerOptions(step_features())
      .d_state(d_state_)
      .d_conv(d_conv_)
      .d_inner(d_inner_.value_or(expand_ * d_model_))
      .dt_rank(dt_rank_)
      .bidirectional(bidirectional_)
      .s6_init(s6_init_);
}

SelectiveChannelMixerImpl::SelectiveChannelMixerImpl(const SelectiveChannelMixerOptions& options_)
    : SelectiveTokenMixerImpl(options_.body_options()), channel_options(options_) {}

torch::Tensor SelectiveChannelMixerImpl::forward(const torch::Tensor& x) {
  const int64_t d = channel_options.d_model();
  TORCH_CHECK(x.dim() == 4 && x.size(3) == d, "SelectiveChannelMixer: x must have shape (B, M, P, d) with d = ", d,
              ", got ", x.sizes());
  const int64_t B = x.size(0), M = x.size(1), P = x.size(2);
  if (channel_options.layout() == ChannelMixerLayout::kLiteral) {
    TORCH_CHECK(P == channel_options.n_tokens(),
                "SelectiveChannelMixer: the literal layout was "
                "built for P = ",
                channel_options.n_tokens(), " tokens, got ", x.sizes());
    // per b: sequence over M, features = the variate's P*d values.
    auto y = SelectiveTokenMixerImpl::forward(x.reshape({B, M, P * d}));
    return y.reshape(x.sizes());
  }
  // cell: per (b, p), sequence over M of d-vectors.
  auto seq = x.permute({0, 2, 1, 3});              // (B, P, M, d)
  auto y = SelectiveTokenMixerImpl::forward(seq);  // mixes along M
  return y.permute({0, 2, 1, 3});
}

}  // namespace mmx::nn
