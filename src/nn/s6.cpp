// S6 layer and the selective mixers built on it (paper-spec §1.3, §2.2–§2.5).
#include "mmx/nn/s6.h"

#include "mmx/nn/selective_mixer.h"
#include "mmx/ops/selective_scan.h"

#include <cmath>

namespace mmx::nn {

namespace F = torch::nn::functional;

int64_t auto_dt_rank(int64_t d_model) {
  TORCH_CHECK(d_model >= 1, "auto_dt_rank: d_model must be >= 1, got ", d_model);
  return (d_model + 15) / 16;
}

// ---------------------------------------------------------------------------------------------
// S6

S6Impl::S6Impl(const S6Options& options_) : options(options_) { reset(); }

void S6Impl::reset() {
  const int64_t E = options.resolved_d_inner();
  const int64_t N = options.d_state();
  const int64_t R = options.resolved_dt_rank();
  TORCH_CHECK(E >= 1 && N >= 1 && R >= 1, "S6: d_inner, d_state and dt_rank must be >= 1, got ",
              E, ", ", N, ", ", R);
  TORCH_CHECK(N <= kMaxDState, "S6: d_state must be <= ", kMaxDState, ", got ", N);
  TORCH_CHECK(0.0 < options.dt_min() && options.dt_min() <= options.dt_max(),
              "S6: need 0 < dt_min <= dt_max, got ", options.dt_min(), ", ", options.dt_max());

  x_proj = register_module("x_proj",
                           torch::nn::Linear(torch::nn::LinearOptions(E, R + 2 * N).bias(false)));
  dt_proj = register_module("dt_proj", torch::nn::Linear(torch::nn::LinearOptions(R, E)));

  torch::NoGradGuard no_grad;
  const double bound = options.dt_scale() / std::sqrt(static_cast<double>(R));
  dt_proj->weight.uniform_(-bound, bound);
  // softplus(bias) = dt with log dt ~ U(ln dt_min, ln dt_max); inverse softplus dt + ln(1 - e^-dt).
  auto dt = torch::exp(torch::rand({E}, torch::kFloat64) *
                           (std::log(options.dt_max()) - std::log(options.dt_min())) +
                       std::log(options.dt_min()))
                .clamp_min(options.dt_init_floor());
  auto inv_dt = dt + torch::log(-torch::expm1(-dt));
  dt_proj->bias.copy_(inv_dt.to(dt_proj->bias.scalar_type()));

  auto a = torch::arange(1, N + 1, torch::kFloat32).log().repeat({E, 1});
  A_log = register_parameter("A_log", a);
  D = register_parameter("D", torch::ones({E}));
}

torch::Tensor S6Impl::forward(const torch::Tensor& u, const torch::Tensor& z) {
  const int64_t E = options.resolved_d_inner();
  const int64_t N = options.d_state();
  const int64_t R = options.resolved_dt_rank();
  TORCH_CHECK(u.dim() == 3 && u.size(1) == E, "S6: u must have shape (batch, E, L) with E = ", E,
              ", got ", u.sizes());
  TORCH_CHECK(!z.defined() || z.sizes() == u.sizes(), "S6: z must have u's shape ", u.sizes(),
              ", got ", z.sizes());
  // [delta_low; B; C] = W_x u_t for every step: (R+2N, E) @ (batch, E, L) -> (batch, R+2N, L).
  auto x_dbl = torch::matmul(x_proj->weight, u);
  auto parts = x_dbl.split_with_sizes({R, N, N}, 1);
  auto delta = torch::matmul(dt_proj->weight, parts[0]);  // (batch, E, L); bias added in the scan
  auto B = parts[1].unsqueeze(1);                          // (batch, G = 1, N, L)
  auto C = parts[2].unsqueeze(1);

  // The scan takes A, D and the bias in fp32 (fp64 when u is fp64).
  const auto wt = u.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  auto A = -torch::exp(A_log.to(wt));
  SelectiveScanExtras extras;
  extras.D = D.to(wt);
  extras.z = z;
  extras.delta_bias = dt_proj->bias.to(wt);
  SelectiveScanOptions scan_options;
  scan_options.delta_softplus = true;
  scan_options.reverse = options.reverse();
  return selective_scan(u, delta, A, B, C, extras, scan_options).out;
}

// ---------------------------------------------------------------------------------------------
// CausalConv1d

CausalConv1dImpl::CausalConv1dImpl(const CausalConv1dOptions& options_) : options(options_) {
  reset();
}

void CausalConv1dImpl::reset() {
  const int64_t E = options.channels(), k = options.kernel_size();
  TORCH_CHECK(E >= 1 && k >= 1, "CausalConv1d: channels and kernel_size must be >= 1, got ", E,
              ", ", k);
  const double bound = 1.0 / std::sqrt(static_cast<double>(k));  // torch Conv1d default, fan_in = k
  weight = register_parameter("weight", torch::empty({E, 1, k}).uniform_(-bound, bound));
  if (options.bias()) {
    bias = register_parameter("bias", torch::empty({E}).uniform_(-bound, bound));
  }
}

torch::Tensor CausalConv1dImpl::forward(const torch::Tensor& x) {
  const int64_t E = options.channels(), k = options.kernel_size();
  TORCH_CHECK(x.dim() == 3 && x.size(1) == E,
              "CausalConv1d: x must have shape (batch, E, L) with E = ", E, ", got ", x.sizes());
  const int64_t L = x.size(2);
  // conv1d is a cross-correlation: with padding k-1 on both sides, output i reads x[i-(k-1)+j].
  // Causal: outputs 0..L-1. Reverse: the flipped kernel, outputs k-1..k-2+L, which read
  // x[t + (k-1) - j] with weight j.
  auto w = options.reverse() ? weight.flip({-1}) : weight;
  auto y = F::conv1d(x, w, F::Conv1dFuncOptions().bias(bias).padding(k - 1).groups(E));
  return options.reverse() ? y.narrow(2, k - 1, L) : y.narrow(2, 0, L);
}

// ---------------------------------------------------------------------------------------------
// SelectiveTokenMixer

SelectiveTokenMixerImpl::SelectiveTokenMixerImpl(const SelectiveTokenMixerOptions& options_)
    : options(options_) {
  const int64_t D = options.d_model();
  const int64_t E = options.resolved_d_inner();
  TORCH_CHECK(D >= 1 && E >= 1, "SelectiveTokenMixer: d_model and d_inner must be >= 1, got ", D,
              ", ", E);
  in_proj = register_module("in_proj",
                            torch::nn::Linear(torch::nn::LinearOptions(D, 2 * E).bias(false)));
  conv1d = register_module("conv1d", torch::nn::ModuleList());
  s6 = register_module("s6", torch::nn::ModuleList());
  for (int64_t k = 0; k < options.n_directions(); ++k) {
    const bool reverse = k == 1;
    conv1d->push_back(
        CausalConv1d(CausalConv1dOptions(E, options.d_conv()).reverse(reverse)));
    s6->push_back(S6(S6Options(D)
                         .d_inner(E)
                         .d_state(options.d_state())
                         .dt_rank(options.resolved_dt_rank())
                         .dt_min(options.dt_min())
                         .dt_max(options.dt_max())
                         .dt_init_floor(options.dt_init_floor())
                         .dt_scale(options.dt_scale())
                         .reverse(reverse)));
  }
  out_proj = register_module("out_proj",
                             torch::nn::Linear(torch::nn::LinearOptions(E, D).bias(false)));
}

torch::Tensor SelectiveTokenMixerImpl::forward(const torch::Tensor& x) {
  const int64_t D = options.d_model();
  TORCH_CHECK(x.dim() >= 2 && x.size(-1) == D,
              "SelectiveTokenMixer: x must have shape (*, L, D) with D = ", D, ", got ", x.sizes());
  const int64_t L = x.size(-2);
  auto seq = x.reshape({-1, L, D});                      // (B', L, D)
  auto xz = in_proj(seq).transpose(1, 2);                // (B', 2E, L)
  auto uz = xz.chunk(2, 1);
  const auto& u = uz[0];
  const auto& z = uz[1];
  torch::Tensor g;
  for (size_t k = 0; k < s6->size(); ++k) {
    auto a = F::silu(conv1d[k]->as<CausalConv1d>()->forward(u));
    auto y = s6[k]->as<S6>()->forward(a, z);             // S6_k(...) * SiLU(z)
    g = g.defined() ? g + y : y;
  }
  auto out = out_proj(g.transpose(1, 2));                // (B', L, D)
  return out.reshape(x.sizes());
}

// ---------------------------------------------------------------------------------------------
// SelectiveChannelMixer

ChannelMixerLayout parse_channel_mixer_layout(const std::string& name) {
  if (name == "cell") return ChannelMixerLayout::kCell;
  if (name == "literal") return ChannelMixerLayout::kLiteral;
  if (name == "token_wise") return ChannelMixerLayout::kTokenWise;
  TORCH_CHECK(false, "channel mixer layout must be one of cell, literal, token_wise; got '", name,
              "'");
}

std::string to_string(ChannelMixerLayout layout) {
  switch (layout) {
    case ChannelMixerLayout::kCell: return "cell";
    case ChannelMixerLayout::kLiteral: return "literal";
    case ChannelMixerLayout::kTokenWise: return "token_wise";
  }
  return "unknown";
}

int64_t SelectiveChannelMixerOptions::step_features() const {
  TORCH_CHECK(layout_ != ChannelMixerLayout::kTokenWise,
              "SelectiveChannelMixer: the token_wise layout (paper-spec §2.5) is not implemented");
  if (layout_ == ChannelMixerLayout::kCell) return d_model_;
  TORCH_CHECK(n_tokens_ >= 1,
              "SelectiveChannelMixer: the literal layout needs n_tokens >= 1, got ", n_tokens_);
  return n_tokens_ * d_model_;
}

SelectiveTokenMixerOptions SelectiveChannelMixerOptions::body_options() const {
  return SelectiveTokenMixerOptions(step_features())
      .d_state(d_state_)
      .d_conv(d_conv_)
      .d_inner(d_inner_.value_or(expand_ * d_model_))
      .dt_rank(dt_rank_)
      .bidirectional(bidirectional_)
      .dt_min(dt_min_)
      .dt_max(dt_max_)
      .dt_init_floor(dt_init_floor_)
      .dt_scale(dt_scale_);
}

SelectiveChannelMixerImpl::SelectiveChannelMixerImpl(const SelectiveChannelMixerOptions& options_)
    : SelectiveTokenMixerImpl(options_.body_options()), channel_options(options_) {}

torch::Tensor SelectiveChannelMixerImpl::forward(const torch::Tensor& x) {
  const int64_t d = channel_options.d_model();
  TORCH_CHECK(x.dim() == 4 && x.size(3) == d,
              "SelectiveChannelMixer: x must have shape (B, M, P, d) with d = ", d, ", got ",
              x.sizes());
  const int64_t B = x.size(0), M = x.size(1), P = x.size(2);
  if (channel_options.layout() == ChannelMixerLayout::kLiteral) {
    TORCH_CHECK(P == channel_options.n_tokens(), "SelectiveChannelMixer: the literal layout was "
                "built for P = ", channel_options.n_tokens(), " tokens, got ", x.sizes());
    // per b: sequence over M, features = the variate's P*d values.
    auto y = SelectiveTokenMixerImpl::forward(x.reshape({B, M, P * d}));
    return y.reshape(x.sizes());
  }
  // cell: per (b, p), sequence over M of d-vectors.
  auto seq = x.permute({0, 2, 1, 3});                    // (B, P, M, d)
  auto y = SelectiveTokenMixerImpl::forward(seq);        // mixes along M
  return y.permute({0, 2, 1, 3});
}

}  // namespace mmx::nn
