// TSM2 forecaster (MambaMixer §5.1; docs/decisions.md, "TSM2 instantiation").
#include "mmx/models/tsm2.h"

#include <iomanip>
#include <sstream>

namespace mmx::models {

int64_t TSM2Options::n_patches() const { return (seq_len_ - patch_len_) / stride_ + 1; }

void TSM2Options::validate() const {
  TORCH_CHECK(seq_len_ >= 1, "TSM2: seq_len must be >= 1, got ", seq_len_);
  TORCH_CHECK(pred_len_ >= 1, "TSM2: pred_len must be >= 1, got ", pred_len_);
  TORCH_CHECK(n_vars_ >= 1, "TSM2: n_vars must be >= 1, got ", n_vars_);
  TORCH_CHECK(patch_len_ >= 1 && patch_len_ <= seq_len_, "TSM2: patch_len must be in [1, seq_len = ", seq_len_,
              "], got ", patch_len_);
  TORCH_CHECK(stride_ >= 1, "TSM2: stride must be >= 1, got ", stride_);
  TORCH_CHECK(d_model_ >= 1, "TSM2: d_model must be >= 1, got ", d_model_);
  TORCH_CHECK(n_layers_ >= 1, "TSM2: n_layers must be >= 1, got ", n_layers_);
  TORCH_CHECK(d_state_ >= 1, "TSM2: d_state must be >= 1, got ", d_state_);
  TORCH_CHECK(d_conv_ >= 1, "TSM2: d_conv must be >= 1, got ", d_conv_);
  TORCH_CHECK(expand_ >= 1, "TSM2: expand must be >= 1, got ", expand_);
  TORCH_CHECK(!dt_rank_ || *dt_rank_ >= 1, "TSM2: dt_rank must be >= 1, got ", dt_rank_.value_or(0));
  TORCH_CHECK(dropout_ >= 0.0 && dropout_ < 1.0, "TSM2: dropout must be in [0, 1), got ", dropout_);
  TORCH_CHECK(drop_path_ >= 0.0 && drop_path_ < 1.0, "TSM2: drop_path must be in [0, 1), got ", drop_path_);
}

TSM2Impl::TSM2Impl(const TSM2Options& options_) : options(options_) {
  options.validate();
  const int64_t P = options.n_patches(), d = options.d_model();
  if (options.revin()) {
    revin = register_module("revin", nn::RevIN(nn::RevINOptions(options.n_vars()).affine(options.revin_affine())));
  }
  patch_embed = register_module("patch_embed", torch::nn::Linear(torch::nn::LinearOptions(options.patch_len(), d)));
  backbone = register_module("backbone", nn::MambaMixer(nn::MambaMixerOptions(d, options.n_layers())
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
  head = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(P * d, options.pred_len())));
}

torch::Tensor TSM2Impl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 3 && x.size(1) == options.seq_len() && x.size(2) == options.n_vars(),
              "TSM2: x must have shape (B, seq_len, n_vars) = (B, ", options.seq_len(), ", ", options.n_vars(),
              "), got ", x.sizes());
  const int64_t B = x.size(0), M = x.size(2), P = options.n_patches(), d = options.d_model();
  torch::Tensor h = x;
  nn::RevINStats stats;
  if (options.revin()) std::tie(h, stats) = revin->normalize(x);
  auto patches = h.transpose(1, 2).unfold(2, options.patch_len(), options.stride());  // (B, M, P, patch_len)
  auto grid = patch_embed(patches);                                                   // (B, M, P, d)
  grid = norm(backbone(grid));
  auto y = head(head_dropout(grid.reshape({B, M, P * d})));  // (B, M, H)
  y = y.transpose(1, 2);                                     // (B, H, M)
  if (options.revin()) y = revin->denormalize(y, stats);
  return y;
}

ParameterShapes tsm2_parameter_shapes(const TSM2Options& o) {
  o.validate();
  TORCH_CHECK(o.channel_layout() != nn::ChannelMixerLayout::kTokenWise,
              "TSM2: the token_wise channel layout is not implemented for TSM2");
  ShapeList out("TSM2");
  auto mul = [&](int64_t a, int64_t b) { return out.mul(a, b); };
  auto add = [&](const std::string& name, std::vector<int64_t> shape) { out.add(name, std::move(shape)); };
  const int64_t d = o.d_model(), P = o.n_patches(), N = o.d_state(), E = mul(o.expand(), d);
  if (o.revin() && o.revin_affine()) {
    add("revin.weight", {o.n_vars()});
    add("revin.bias", {o.n_vars()});
  }
  add("patch_embed.weight", {d, o.patch_len()});
  add("patch_embed.bias", {d});
  // A pre-norm sub-block around a SelectiveTokenMixer body with D step features (src/nn/s6.cpp).
  auto sub_block = [&](const std::string& prefix, int64_t D, int64_t directions) {
    const int64_t R = o.dt_rank().value_or((D + 15) / 16);
    add(prefix + ".norm.weight", {d});
    add(prefix + ".norm.bias", {d});
    add(prefix + ".mixer.in_proj.weight", {mul(2, E), D});
    for (int64_t k = 0; k < directions; ++k) {
      const std::string c = prefix + ".mixer.conv1d." + std::to_string(k);
      add(c + ".weight", {E, 1, o.d_conv()});
      add(c + ".bias", {E});
    }
    for (int64_t k = 0; k < directions; ++k) {
      const std::string s6 = prefix + ".mixer.s6." + std::to_string(k);
      add(s6 + ".A_log", {E, N});
      add(s6 + ".D", {E});
      add(s6 + ".x_proj.weight", {R + 2 * N, E});
      add(s6 + ".dt_proj.weight", {E, R});
      add(s6 + ".dt_proj.bias", {E});
    }
    add(prefix + ".mixer.out_proj.weight", {D, E});
  };
  const int64_t channel_D = o.channel_layout() == nn::ChannelMixerLayout::kLiteral ? mul(P, d) : d;
  for (int64_t l = 0; l < o.n_layers(); ++l) {
    const std::string b = "backbone.blocks." + std::to_string(l);
    sub_block(b + ".token_mixer", d, 1);
    sub_block(b + ".channel_mixer", channel_D, 2);
  }
  for (int64_t l = 1; l <= o.n_layers(); ++l) {
    const std::string a = "backbone.averaging.", i = "_" + std::to_string(l);
    add(a + "alpha" + i, {l});
    add(a + "beta" + i, {l});
    add(a + "theta" + i, {l + 1});
    add(a + "gamma" + i, {l});
  }
  add("norm.weight", {d});
  add("norm.bias", {d});
  add("head.weight", {o.pred_len(), mul(P, d)});
  add("head.bias", {o.pred_len()});
  return std::move(out).take();
}

int64_t tsm2_parameter_count(const TSM2Options& options) { return count_parameters(tsm2_parameter_shapes(options)); }

std::string TSM2Impl::summary() const {
  std::ostringstream s;
  s << "TSM2 seq_len=" << options.seq_len() << " pred_len=" << options.pred_len() << " n_vars=" << options.n_vars()
    << " patch_len=" << options.patch_len() << " stride=" << options.stride() << " n_patches=" << options.n_patches()
    << " d_model=" << options.d_model() << " n_layers=" << options.n_layers() << " d_state=" << options.d_state()
    << " d_conv=" << options.d_conv() << " expand=" << options.expand()
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
    s << "  " << std::left << std::setw(static_cast<int>(width)) << r << "  " << std::right << std::setw(12)
      << nn::count_parameters(*this, r) << "\n";
  }
  s << "  " << std::left << std::setw(static_cast<int>(width)) << "total"
    << "  " << std::right << std::setw(12) << nn::count_parameters(*this) << "\n";
  return s.str();
}

}  // namespace mmx::models
