// TSM2 forecaster (paper-spec §5.2, §5.3).
#include "mmx/models/tsm2.h"

#include <iomanip>
#include <sstream>

namespace mmx::models {

int64_t TSM2Options::n_patches() const { return (seq_len_ - patch_len_) / stride_ + 1; }

void TSM2Options::validate() const {
  TORCH_CHECK(seq_len_ >= 1, "TSM2: seq_len must be >= 1, got ", seq_len_);
  TORCH_CHECK(pred_len_ >= 1, "TSM2: pred_len must be >= 1, got ", pred_len_);
  TORCH_CHECK(n_vars_ >= 1, "TSM2: n_vars must be >= 1, got ", n_vars_);
  TORCH_CHECK(patch_len_ >= 1 && patch_len_ <= seq_len_,
              "TSM2: patch_len must be in [1, seq_len = ", seq_len_, "], got ", patch_len_);
  TORCH_CHECK(stride_ >= 1, "TSM2: stride must be >= 1, got ", stride_);
  TORCH_CHECK(d_model_ >= 1, "TSM2: d_model must be >= 1, got ", d_model_);
  TORCH_CHECK(n_layers_ >= 1, "TSM2: n_layers must be >= 1, got ", n_layers_);
  TORCH_CHECK(d_state_ >= 1, "TSM2: d_state must be >= 1, got ", d_state_);
  TORCH_CHECK(d_conv_ >= 1, "TSM2: d_conv must be >= 1, got ", d_conv_);
  TORCH_CHECK(expand_ >= 1, "TSM2: expand must be >= 1, got ", expand_);
  TORCH_CHECK(!dt_rank_ || *dt_rank_ >= 1, "TSM2: dt_rank must be >= 1, got ", dt_rank_.value_or(0));
  TORCH_CHECK(dropout_ >= 0.0 && dropout_ < 1.0, "TSM2: dropout must be in [0, 1), got ", dropout_);
  TORCH_CHECK(drop_path_ >= 0.0 && drop_path_ < 1.0, "TSM2: drop_path must be in [0, 1), got ",
              drop_path_);
}

TSM2Impl::TSM2Impl(const TSM2Options& options_) : options(options_) {
  options.validate();
  const int64_t P = options.n_patches(), d = options.d_model();
  if (options.revin()) {
    revin = register_module(
        "revin", nn::RevIN(nn::RevINOptions(options.n_vars()).affine(options.revin_affine())));
  }
  patch_embed = register_module("patch_embed",
                                torch::nn::Linear(torch::nn::LinearOptions(options.patch_len(), d)));
  backbone = register_module(
      "backbone", nn::MambaMixer(nn::MambaMixerOptions(d, options.n_layers())
                                     .d_state(options.d_state())
                                     .d_conv(options.d_conv())
                                     .expand(options.expand())
                                     .dt_rank(options.dt_rank())
                                     .token_bidirectional(false)
                                     .channel_bidirectional(true)
                                     .channel_layout(options.channel_layout())
                                     .n_tokens(P)
                                     .norm(nn::MixerNorm::kNorm2D)
                                     .norm_eps(options.norm_eps())
                                     .drop_path(options.drop_path())));
  norm = register_module("norm", nn::Norm2D(nn::Norm2DOptions(d).eps(options.norm_eps())));
  head_dropout = register_module("head_dropout", torch::nn::Dropout(options.dropout()));
  head = register_module("head",
                         torch::nn::Linear(torch::nn::LinearOptions(P * d, options.pred_len())));
}

torch::Tensor TSM2Impl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 3 && x.size(1) == options.seq_len() && x.size(2) == options.n_vars(),
              "TSM2: x must have shape (B, seq_len, n_vars) = (B, ", options.seq_len(), ", ",
              options.n_vars(), "), got ", x.sizes());
  const int64_t B = x.size(0), M = x.size(2), P = options.n_patches(), d = options.d_model();
  torch::Tensor h = x;
  nn::RevINStats stats;
  if (options.revin()) std::tie(h, stats) = revin->normalize(x);
  auto patches = h.transpose(1, 2).unfold(2, options.patch_len(), options.stride());  // (B, M, P, patch_len)
  auto grid = patch_embed(patches);                                                   // (B, M, P, d)
  grid = norm(backbone(grid));
  auto y = head(head_dropout(grid.reshape({B, M, P * d})));                           // (B, M, H)
  y = y.transpose(1, 2);                                                              // (B, H, M)
  if (options.revin()) y = revin->denormalize(y, stats);
  return y;
}

std::string TSM2Impl::summary() const {
  std::ostringstream s;
  s << "TSM2 seq_len=" << options.seq_len() << " pred_len=" << options.pred_len()
    << " n_vars=" << options.n_vars() << " patch_len=" << options.patch_len()
    << " stride=" << options.stride() << " n_patches=" << options.n_patches()
    << " d_model=" << options.d_model() << " n_layers=" << options.n_layers()
    << " d_state=" << options.d_state() << " d_conv=" << options.d_conv()
    << " expand=" << options.expand()
    << " dt_rank=" << options.dt_rank().value_or(nn::auto_dt_rank(options.d_model()))
    << " channel_layout=" << nn::to_string(options.channel_layout())
    << " revin=" << (options.revin() ? (options.revin_affine() ? "affine" : "on") : "off")
    << " dropout=" << options.dropout() << " drop_path=" << options.drop_path() << "\n";
  std::vector<std::string> rows;
  if (options.revin()) rows.push_back("revin");
  rows.push_back("patch_embed");
  for (int64_t l = 0; l < options.n_layers(); ++l) {
    rows.push_back("backbone.blocks." + std::to_string(l) + ".token_mixer");
    rows.push_back("backbone.blocks." + std::to_string(l) + ".channel_mixer");
  }
  rows.push_back("backbone.averaging");
  rows.push_back("norm");
  rows.push_back("head");
  size_t width = 5;
  for (const auto& r : rows) width = std::max(width, r.size());
  for (const auto& r : rows) {
    s << "  " << std::left << std::setw(static_cast<int>(width)) << r << "  " << std::right
      << std::setw(12) << nn::count_parameters(*this, r) << "\n";
  }
  s << "  " << std::left << std::setw(static_cast<int>(width)) << "total" << "  " << std::right
    << std::setw(12) << nn::count_parameters(*this) << "\n";
  return s.str();
}

}  // namespace mmx::models
