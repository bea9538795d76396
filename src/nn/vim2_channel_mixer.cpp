// The ViM2 channel mixers (MambaMixer §4.1 "Selective Channel Mixing"): CM-literal with K = 4 or
// 2 branches and the resolution-free CM-token-wise option. The scan runs along the channel axis.
#include "mmx/nn/vim2_channel_mixer.h"

#include "mmx/nn/causal_conv1d.h"

namespace mmx::nn {

namespace F = torch::nn::functional;

// ---------------------------------------------------------------------------------------------
// CM-literal

ChannelMixer2DImpl::ChannelMixer2DImpl(const ChannelMixer2DOptions& options_) : options(options_) {
  const int64_t L = options.side() * options.side();
  const int64_t Ec = options.d_inner();
  const int64_t K = options.n_branches();
  TORCH_CHECK(K == 2 || K == 4, "ChannelMixer2D: n_branches must be 2 or 4, got ", K);
  TORCH_CHECK(options.d_model() >= 1 && options.side() >= 1 && Ec >= 1 && options.d_conv() >= 1,
              "ChannelMixer2D: d_model, side, d_inner and d_conv must be >= 1");
  in_proj = register_module("in_proj", torch::nn::Linear(torch::nn::LinearOptions(L, 2 * Ec).bias(false)));
  auto [w, b] = init_depthwise_conv1d(K * Ec, options.d_conv());
  conv_weight = register_parameter("conv_weight", w);
  conv_bias = register_parameter("conv_bias", b);
  s6 = register_module("s6", StackedS6(StackedS6Options(Ec, K)
                                           .d_state(options.d_state())
                                           .dt_rank(auto_dt_rank(L))
                                           .s6_init(options.s6_init())
                                           .scan_recompute(options.scan_recompute())));
  out_proj = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(Ec, L).bias(false)));
}

torch::Tensor ChannelMixer2DImpl::forward(const torch::Tensor& x) {
  const int64_t C = options.d_model();
  const int64_t S = options.side();
  TORCH_CHECK(x.dim() == 4 && x.size(1) == S && x.size(2) == S && x.size(3) == C,
              "ChannelMixer2D (CM-literal): x must have shape (B, ", S, ", ", S, ", ", C, "), got ", x.sizes(),
              "; the literal layout is tied to its token grid (use channel_layout token_wise for "
              "other input sizes)");
  const int64_t B = x.size(0), L = S * S, Ec = options.d_inner();
  const int64_t half = options.n_branches() / 2;
  const auto w_in = in_proj->weight.narrow(0, 0, Ec);
  const auto w_z = in_proj->weight.narrow(0, Ec, Ec);
  // Every channel's map as a length-L vector, row-major (branches 1, 3). The column-major
  // branches (2, 4) need no second copy of x: W_in v_col = W_in^P v_row with W_in^P the columns of
  // W_in permuted by the transpose of the S x S grid. So one copy of x and one GEMM give U_row,
  // U_col and Z.
  std::vector<torch::Tensor> ws{w_in};
  if (half == 2) ws.push_back(w_in.view({Ec, S, S}).transpose(1, 2).reshape({Ec, L}));
  ws.push_back(w_z);
  const auto v_row = x.permute({0, 3, 1, 2}).reshape({B, C, L});
  const auto proj = F::linear(v_row, torch::cat(ws, 0));  // (B, C, (half+1) E_c)
  const auto z = proj.narrow(2, half * Ec, Ec);           // (B, C, E_c)
  // Scan layout (B, half * E_c, C): the channel axis is the sequence axis.
  const auto xs = proj.narrow(2, 0, half * Ec).transpose(1, 2);
  const auto w = conv_weight.view({2, half * Ec, 1, -1});
  const auto b = conv_bias.view({2, half * Ec});
  const auto fwd = F::silu(causal_depthwise_conv1d(xs, w[0], b[0], /*reverse=*/false));
  const auto rev = F::silu(causal_depthwise_conv1d(xs, w[1], b[1], /*reverse=*/true));
  auto a = s6(fwd.contiguous(), 0, half, false) + s6(rev.contiguous(), half, half, true);
  auto a_sum = a.view({B, half, Ec, C}).sum(1).transpose(1, 2);  // (B, C, E_c)
  auto out = out_proj(a_sum * F::silu(z));                       // (B, C, L)
  return out.view({B, C, S, S}).permute({0, 2, 3, 1});
}

// ---------------------------------------------------------------------------------------------
// CM-token-wise

TokenWiseChannelMixerImpl::TokenWiseChannelMixerImpl(const ChannelMixer2DOptions& options_) : options(options_) {
  const int64_t C = options.d_model();
  const int64_t Ec = options.d_inner();
  TORCH_CHECK(C >= 1 && Ec >= 1 && options.d_conv() >= 1,
              "TokenWiseChannelMixer: d_model, d_inner and d_conv must be >= 1");
  in_proj = register_module("in_proj", torch::nn::Linear(torch::nn::LinearOptions(C, 2 * Ec).bias(false)));
  auto [w, b] = init_depthwise_conv1d(2, options.d_conv());
  conv_weight = register_parameter("conv_weight", w);
  conv_bias = register_parameter("conv_bias", b);
  s6 = register_module("s6", StackedS6(StackedS6Options(1, 2)
                                           .d_state(options.d_state())
                                           .dt_rank(1)
                                           .s6_init(options.s6_init())
                                           .scan_recompute(options.scan_recompute())));
  out_proj = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(Ec, C).bias(false)));
}

torch::Tensor TokenWiseChannelMixerImpl::forward(const torch::Tensor& x) {
  const int64_t C = options.d_model();
  TORCH_CHECK(x.dim() == 4 && x.size(3) == C, "TokenWiseChannelMixer: x must have shape (B, H, W, ", C, "), got ",
              x.sizes());
  const int64_t Ec = options.d_inner();
  const auto tokens = x.reshape({-1, C});  // (B H W, C)
  const int64_t P = tokens.size(0);
  auto uz = in_proj(tokens).chunk(2, -1);  // (P, E_c) each
  // Each token's E_c entries form a scalar sequence: scan layout (P, E = 1, E_c).
  const auto seq = uz[0].unsqueeze(1);
  const auto w = conv_weight.view({2, 1, 1, -1});
  const auto fwd = F::silu(causal_depthwise_conv1d(seq, w[0], conv_bias.narrow(0, 0, 1), false));
  const auto rev = F::silu(causal_depthwise_conv1d(seq, w[1], conv_bias.narrow(0, 1, 1), true));
  auto a = s6(fwd.contiguous(), 0, 1, false) + s6(rev.contiguous(), 1, 1, true);  // (P, 1, E_c)
  auto out = out_proj(a.view({P, Ec}) * F::silu(uz[1]));
  return out.view(x.sizes());
}

}  // namespace mmx::nn
