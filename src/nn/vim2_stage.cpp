// One ViM2 stage: (T, T, C) pre-norm residual sub-blocks joined by stage-wise weighted averaging
// (MambaMixer §4.1, §3.2; order and wrapper: docs/decisions.md, "ViM2 sub-block order",
// "Pre-norm residual wrapper").
#include "mmx/nn/vim2_stage.h"

#include "mmx/nn/mamba_mixer.h"
#include "mmx/nn/ss2d.h"
#include "mmx/nn/vim2_channel_mixer.h"

namespace mmx::nn {

ViM2StageImpl::ViM2StageImpl(const ViM2StageOptions& options_) : options(options_) {
  const auto& order = options.block_order();
  TORCH_CHECK(order == "TTC" || order == "TCT", "ViM2Stage: block_order must be \"TTC\" or \"TCT\", got \"", order,
              "\"");
  const auto& layout = options.channel_layout();
  TORCH_CHECK(layout == "literal" || layout == "token_wise",
              "ViM2Stage: channel_layout must be \"literal\" or \"token_wise\", got \"", layout, "\"");
  TORCH_CHECK(options.depth() >= 1, "ViM2Stage: depth must be >= 1, got ", options.depth());
  const int64_t n = 3 * options.depth();
  const auto& dpr = options.drop_path();
  TORCH_CHECK(dpr.empty() || static_cast<int64_t>(dpr.size()) == n, "ViM2Stage: drop_path needs ", n,
              " rates (one per sub-block), got ", dpr.size());
  const int64_t C = options.dim();
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < n; ++i) {
    torch::nn::AnyModule mixer;
    if (order[i % 3] == 'T') {
      mixer = torch::nn::AnyModule(SS2D(SS2DOptions(C)
                                            .expand(options.expand())
                                            .d_state(options.d_state())
                                            .d_conv(options.d_conv())
                                            .out_norm(options.out_norm())
                                            .norm_eps(options.norm_eps())
                                            .s6_init(options.s6_init())
                                            .scan_recompute(options.scan_recompute())));
    } else {
      const auto cm = ChannelMixer2DOptions(C, options.side())
                          .d_inner(options.channel_d_inner())
                          .n_branches(options.channel_branches())
                          .d_state(options.d_state())
                          .d_conv(options.channel_d_conv())
                          .s6_init(options.s6_init())
                          .scan_recompute(options.scan_recompute());
      mixer = layout == "literal" ? torch::nn::AnyModule(ChannelMixer2D(cm))
                                  : torch::nn::AnyModule(TokenWiseChannelMixer(cm));
    }
    torch::nn::AnyModule norm(torch::nn::LayerNorm(torch::nn::LayerNormOptions({C}).eps(options.norm_eps())));
    blocks->push_back(
        PreNormResidual(std::move(norm), std::move(mixer), PreNormResidualOptions(dpr.empty() ? 0.0 : dpr[i])));
  }
  if (options.weighted_average()) {
    averaging = register_module("averaging", StageAverage(StageAverageOptions(n)));
  }
}

torch::Tensor ViM2StageImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(3) == options.dim(), "ViM2Stage: x must have shape (B, H, W, ", options.dim(),
              "), got ", x.sizes());
  if (!options.weighted_average()) {
    auto h = x;
    for (const auto& block : *blocks) h = block->as<PreNormResidualImpl>()->forward(h);
    return h;
  }
  std::vector<torch::Tensor> outputs{x};
  for (size_t i = 0; i < blocks->size(); ++i) {
    auto in = averaging->input(static_cast<int64_t>(i) + 1, outputs);
    outputs.push_back(blocks[i]->as<PreNormResidualImpl>()->forward(in));
  }
  return outputs.back();
}

}  // namespace mmx::nn
