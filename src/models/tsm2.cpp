// TSM2 forecaster (MambaMixer §5.1; docs/decisions.md, "TSM2 instantiation").
#include "mmx/models/tsm2.h"

#include <iomanip>
#include <sstream>

namespace mmx::models {

TSM2Variant parse_tsm2_variant(const std::string& name) {
  if (name == "tsm2") return TSM2Variant::kTSM2;
  if (name == "tsm2_mlp") return TSM2Variant::kMLP;
  if (name == "mamba_linear_time") return TSM2Variant::kMambaLinearTime;
  TORCH_CHECK(false, "TSM2: variant must be \"tsm2\", \"tsm2_mlp\" or \"mamba_linear_time\", got \"", name, "\"");
}

std::string to_string(TSM2Variant variant) {
  switch (variant) {
    case TSM2Variant::kMLP:
      return "tsm2_mlp";
    case TSM2Variant::kMambaLinearTime:
      return "mamba_linear_time";
    case TSM2Variant::kTSM2:
      break;
  }
  return "tsm2";
}

int64_t TSM2Options::input_len() const { return seq_len_ * (1 + (n_future_ > 0) + (n_static_ > 0)); }

int64_t TSM2Options::n_patches() const { return (input_len() - patch_len_) / stride_ + 1; }

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
  TORCH_CHECK(n_future_ >= 0 && n_static_ >= 0, "TSM2: n_future and n_static must be >= 0, got ", n_future_, " and ",
              n_static_);
  TORCH_CHECK(variant_ == TSM2Variant::kTSM2 || channel_layout_ == nn::ChannelMixerLayout::kCell, "TSM2: the ",
              to_string(variant_), " ablation uses the cell channel layout, got ", nn::to_string(channel_layout_));
}

TSM2Impl::TSM2Impl(const TSM2Options& options_) : options(options_) {
  options.validate();
  const int64_t P = options.n_patches(), d = options.d_model();
  if (options.revin()) {
    revin = register_module("revin", nn::RevIN(nn::RevINOptions(options.n_vars()).affine(options.revin_affine())));
  }
  patch_embed = register_module("patch_embed", torch::nn::Linear(torch::nn::LinearOptions(options.patch_len(), d)));
  const bool mlp = options.variant() == TSM2Variant::kMLP;
  const bool linear_time = options.variant() == TSM2Variant::kMambaLinearTime;
  backbone = register_module(
      "backbone",
      nn::MambaMixer(nn::MambaMixerOptions(d, options.n_layers())
                         .d_state(options.d_state())
                         .d_conv(options.d_conv())
                         .expand(options.expand())
                         .dt_rank(options.dt_rank())
                         .token_bidirectional(false)
                         .channel_bidirectional(!linear_time)
                         .channel_layout(options.channel_layout())
                         .n_tokens(P)
                         .norm(nn::MixerNorm::kNorm2D)
                         .norm_eps(options.norm_eps())
                         .drop_path(options.drop_path())
                         .token_mixer(linear_time ? nn::TokenMixerKind::kLinear : nn::TokenMixerKind::kSelective)
                         .channel_mixer(mlp ? nn::ChannelMixerKind::kMLP : nn::ChannelMixerKind::kSelective)
                         .n_channels(options.n_vars())
                         .weighted_average(!mlp)));
  norm = register_module("norm", nn::Norm2D(nn::Norm2DOptions(d).eps(options.norm_eps())));
  head_dropout = register_module("head_dropout", torch::nn::Dropout(options.dropout()));
  head = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(P * d, options.pred_len())));
  const int64_t L = options.seq_len(), H = options.pred_len();
  if (options.n_future() > 0) {
    future_mixer = register_module("future_mixer", nn::SelectiveChannelMixer(nn::SelectiveChannelMixerOptions(H)
                                                                                 .d_state(options.d_state())
                                                                                 .d_conv(options.d_conv())
                                                                                 .expand(1)
                                                                                 .bidirectional(true)));
    future_proj = register_module("future_proj", torch::nn::Linear(options.n_future() * H, L));
  }
  if (options.n_static() > 0) static_proj = register_module("static_proj", torch::nn::Linear(options.n_static(), L));
}

torch::Tensor TSM2Impl::forward(const torch::Tensor& x, const torch::Tensor& z, const torch::Tensor& s) {
  TORCH_CHECK(x.dim() == 3 && x.size(1) == options.seq_len() && x.size(2) == options.n_vars(),
              "TSM2: x must have shape (B, seq_len, n_vars) = (B, ", options.seq_len(), ", ", options.n_vars(),
              "), got ", x.sizes());
  const int64_t B = x.size(0), M = x.size(2), P = options.n_patches(), d = options.d_model();
  const int64_t L = options.seq_len(), H = options.pred_len(), CZ = options.n_future(), CS = options.n_static();
  TORCH_CHECK(
      CZ > 0 ? z.defined() && z.dim() == 3 && z.size(0) == B && z.size(1) == H && z.size(2) == CZ : !z.defined(),
      "TSM2: z (future covariates) must be ",
      CZ > 0 ? "of shape (B, pred_len, n_future) = (" + std::to_string(B) + ", " + std::to_string(H) + ", " +
                   std::to_string(CZ) + ")"
             : std::string("absent for a model without future covariates (n_future 0)"),
      ", got ", z.defined() ? c10::str(z.sizes()) : std::string("none"));
  TORCH_CHECK(
      CS > 0 ? s.defined() && s.dim() == 3 && s.size(0) == B && s.size(1) == M && s.size(2) == CS : !s.defined(),
      "TSM2: s (static features) must be ",
      CS > 0 ? "of shape (B, n_vars, n_static) = (" + std::to_string(B) + ", " + std::to_string(M) + ", " +
                   std::to_string(CS) + ")"
             : std::string("absent for a model without static features (n_static 0)"),
      ", got ", s.defined() ? c10::str(s.sizes()) : std::string("none"));
  torch::Tensor h = x;
  nn::RevINStats stats;
  if (options.revin()) std::tie(h, stats) = revin->normalize(x);
  if (CZ > 0 || CS > 0) {  // §5.5: x ‖ Z_proj ‖ S_proj along time
    std::vector<torch::Tensor> parts{h};
    if (CZ > 0) {
      auto grid = z.to(h.dtype()).transpose(1, 2).unsqueeze(2);  // (B, C_Z, 1, H)
      grid = grid + future_mixer(grid);                          // mix the covariates
      auto zp = future_proj(grid.reshape({B, CZ * H}));          // (B, L)
      parts.push_back(zp.unsqueeze(2).expand({B, L, M}));        // every variate
    }
    if (CS > 0) parts.push_back(static_proj(s.to(h.dtype())).transpose(1, 2));  // (B, L, M)
    h = torch::cat(parts, 1);                                                   // (B, input_len, M)
  }
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
  // A selective mixer body (src/nn/selective_mixer.cpp) with D step features, E inner channels,
  // dt rank R and one conv + S6 per direction.
  auto mixer_body = [&](const std::string& prefix, int64_t D, int64_t E_, int64_t R, int64_t directions) {
    add(prefix + "in_proj.weight", {mul(2, E_), D});
    for (int64_t k = 0; k < directions; ++k) {
      const std::string c = prefix + "conv1d." + std::to_string(k);
      add(c + ".weight", {E_, 1, o.d_conv()});
      add(c + ".bias", {E_});
    }
    for (int64_t k = 0; k < directions; ++k) {
      const std::string s6 = prefix + "s6." + std::to_string(k);
      add(s6 + ".A_log", {E_, N});
      add(s6 + ".D", {E_});
      add(s6 + ".x_proj.weight", {R + 2 * N, E_});
      add(s6 + ".dt_proj.weight", {E_, R});
      add(s6 + ".dt_proj.bias", {E_});
    }
    add(prefix + "out_proj.weight", {D, E_});
  };
  // A pre-norm sub-block around a selective mixer body with D step features.
  auto sub_block = [&](const std::string& prefix, int64_t D, int64_t directions) {
    add(prefix + ".norm.weight", {d});
    add(prefix + ".norm.bias", {d});
    mixer_body(prefix + ".mixer.", D, E, o.dt_rank().value_or((D + 15) / 16), directions);
  };
  // A pre-norm sub-block around a plain linear body (nn::VariateMLP, nn::TimeLinear).
  auto linear = [&](const std::string& prefix, int64_t in, int64_t out_features) {
    add(prefix + ".weight", {out_features, in});
    add(prefix + ".bias", {out_features});
  };
  auto norm_of = [&](const std::string& prefix) {
    add(prefix + ".norm.weight", {d});
    add(prefix + ".norm.bias", {d});
  };
  const bool mlp = o.variant() == TSM2Variant::kMLP, linear_time = o.variant() == TSM2Variant::kMambaLinearTime;
  const int64_t channel_D = o.channel_layout() == nn::ChannelMixerLayout::kLiteral ? mul(P, d) : d;
  for (int64_t l = 0; l < o.n_layers(); ++l) {
    const std::string b = "backbone.blocks." + std::to_string(l);
    if (linear_time) {
      norm_of(b + ".token_mixer");
      linear(b + ".token_mixer.mixer.proj", P, P);
    } else {
      sub_block(b + ".token_mixer", d, 1);
    }
    if (mlp) {
      const int64_t M = o.n_vars(), hidden = mul(4, M);  // nn::VariateMLPOptions::mlp_ratio
      norm_of(b + ".channel_mixer");
      linear(b + ".channel_mixer.mixer.fc1", M, hidden);
      linear(b + ".channel_mixer.mixer.fc2", hidden, M);
    } else {
      sub_block(b + ".channel_mixer", channel_D, linear_time ? 1 : 2);
    }
  }
  for (int64_t l = 1; l <= o.n_layers() && !mlp; ++l) {
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
  if (o.n_future() > 0) {  // a bidirectional cell-layout channel mixer of width H, expand 1
    const int64_t H = o.pred_len();
    mixer_body("future_mixer.", H, H, (H + 15) / 16, 2);  // the mixer's own auto dt_rank
    add("future_proj.weight", {o.seq_len(), mul(o.n_future(), H)});
    add("future_proj.bias", {o.seq_len()});
  }
  if (o.n_static() > 0) {
    add("static_proj.weight", {o.seq_len(), o.n_static()});
    add("static_proj.bias", {o.seq_len()});
  }
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
    << " dropout=" << options.dropout() << " drop_path=" << options.drop_path();
  if (options.variant() != TSM2Variant::kTSM2) s << " variant=" << to_string(options.variant());
  if (options.n_future() > 0) s << " n_future=" << options.n_future();
  if (options.n_static() > 0) s << " n_static=" << options.n_static();
  s << "\n";
  std::vector<std::string> rows;
  if (options.revin()) rows.push_back("revin");
  rows.push_back("patch_embed");
  for (int64_t l = 0; l < options.n_layers(); ++l) {
    rows.push_back("backbone.blocks." + std::to_string(l) + ".token_mixer");
    rows.push_back("backbone.blocks." + std::to_string(l) + ".channel_mixer");
  }
  if (backbone->averaging) rows.push_back("backbone.averaging");
  rows.push_back("norm");
  rows.push_back("head");
  if (future_mixer) rows.insert(rows.end(), {"future_mixer", "future_proj"});
  if (static_proj) rows.push_back("static_proj");
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
