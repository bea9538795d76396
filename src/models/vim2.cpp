// ViM2: stem, four MambaMixer stages with patch merging, classification head (MambaMixer §4.1,
// Table 8).
#include "mmx/models/vim2.h"

#include <iomanip>
#include <sstream>

namespace mmx::models {

namespace {

constexpr int kStages = 4;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

int64_t ViM2Options::stage_resolution(int64_t stage) const {
  TORCH_CHECK(stage >= 0 && stage < kStages, "ViM2Options: stage ", stage, " outside [0, 4)");
  int64_t side = image_size_ / patch_size_;
  for (int64_t s = 0; s < stage; ++s) side = ceil_div(side, 2);
  return side;
}

int64_t ViM2Options::n_subblocks() const {
  int64_t n = 0;
  for (auto d : depths_) n += 3 * d;
  return n;
}

void ViM2Options::validate() const {
  TORCH_CHECK(dims_.size() == kStages && depths_.size() == kStages && channel_d_inner_.size() == kStages,
              "ViM2Options: dims, depths and channel_d_inner need 4 entries (one per stage), got ", dims_.size(), ", ",
              depths_.size(), ", ", channel_d_inner_.size());
  for (int s = 0; s < kStages; ++s) {
    TORCH_CHECK(dims_[s] >= 1 && depths_[s] >= 1 && channel_d_inner_[s] >= 1,
                "ViM2Options: dims, depths and channel_d_inner must be >= 1 (stage ", s + 1, ")");
  }
  for (int s = 1; s < kStages; ++s) {
    TORCH_CHECK(dims_[s] == 2 * dims_[s - 1], "ViM2Options: patch merging doubles the width, so dims[", s,
                "] must be 2 * dims[", s - 1, "] = ", 2 * dims_[s - 1], ", got ", dims_[s]);
  }
  TORCH_CHECK(in_chans_ >= 1 && num_classes_ >= 1 && patch_size_ >= 1 && d_state_ >= 1 && expand_ >= 1,
              "ViM2Options: in_chans, num_classes, patch_size, d_state and expand must be >= 1");
  TORCH_CHECK(image_size_ >= patch_size_ && image_size_ % patch_size_ == 0, "ViM2Options: image_size (", image_size_,
              ") must be a multiple of patch_size (", patch_size_, ")");
  TORCH_CHECK(channel_layout_ == "literal" || channel_layout_ == "token_wise",
              "ViM2Options: channel_layout must be \"literal\" or \"token_wise\", got \"", channel_layout_, "\"");
  TORCH_CHECK(channel_branches_ == 2 || channel_branches_ == 4, "ViM2Options: channel_branches must be 2 or 4, got ",
              channel_branches_);
  TORCH_CHECK(block_order_ == "TTC" || block_order_ == "TCT",
              "ViM2Options: block_order must be \"TTC\" or \"TCT\", got \"", block_order_, "\"");
  TORCH_CHECK(drop_path_rate_ >= 0.0 && drop_path_rate_ < 1.0, "ViM2Options: drop_path_rate must be in [0, 1), got ",
              drop_path_rate_);
}

ViM2Options ViM2Options::tiny() { return ViM2Options(); }

ViM2Options ViM2Options::small() { return ViM2Options().depths({1, 1, 9, 1}).drop_path_rate(0.3); }

ViM2Options ViM2Options::base() {
  return ViM2Options()
      .dims({128, 256, 512, 1024})
      .depths({1, 1, 9, 1})
      .channel_d_inner({256, 512, 1024, 1024})
      .drop_path_rate(0.5);
}

ViM2Options vim2_preset(const std::string& name) {
  if (name == "vim2_tiny") return ViM2Options::tiny();
  if (name == "vim2_small") return ViM2Options::small();
  if (name == "vim2_base") return ViM2Options::base();
  TORCH_CHECK(false, "unknown ViM2 preset \"", name, "\"; expected vim2_tiny, vim2_small or vim2_base");
}

ViM2Impl::ViM2Impl(const ViM2Options& options_) : options(options_) {
  options.validate();
  const auto& dims = options.dims();
  stem = register_module("stem",
                         torch::nn::Conv2d(torch::nn::Conv2dOptions(options.in_chans(), dims[0], options.patch_size())
                                               .stride(options.patch_size())
                                               .bias(true)));
  stem_norm = register_module("stem_norm",
                              torch::nn::LayerNorm(torch::nn::LayerNormOptions({dims[0]}).eps(options.norm_eps())));
  // Stochastic depth increasing linearly over all sub-blocks (VMamba / Swin schedule).
  const int64_t total = options.n_subblocks();
  std::vector<double> dpr(total);
  for (int64_t i = 0; i < total; ++i) {
    dpr[i] = total > 1 ? options.drop_path_rate() * static_cast<double>(i) / (total - 1) : 0.0;
  }
  merges = register_module("merges", torch::nn::ModuleList());
  stages = register_module("stages", torch::nn::ModuleList());
  int64_t offset = 0;
  for (int s = 0; s < kStages; ++s) {
    if (s > 0) merges->push_back(nn::PatchMerging2D(dims[s - 1], options.norm_eps()));
    const int64_t n = 3 * options.depths()[s];
    stages->push_back(nn::ViM2Stage(nn::ViM2StageOptions(dims[s], options.stage_resolution(s))
                                        .depth(options.depths()[s])
                                        .block_order(options.block_order())
                                        .expand(options.expand())
                                        .d_state(options.d_state())
                                        .d_conv(options.d_conv())
                                        .out_norm(options.out_norm())
                                        .channel_d_inner(options.channel_d_inner()[s])
                                        .channel_d_conv(options.channel_d_conv())
                                        .channel_layout(options.channel_layout())
                                        .channel_branches(options.channel_branches())
                                        .weighted_average(options.weighted_average())
                                        .drop_path(std::vector<double>(dpr.begin() + offset, dpr.begin() + offset + n))
                                        .norm_eps(options.norm_eps())
                                        .scan_recompute(options.scan_recompute())));
    offset += n;
  }
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dims[3]}).eps(options.norm_eps())));
  head = register_module("head", torch::nn::Linear(dims[3], options.num_classes()));
}

std::vector<torch::Tensor> ViM2Impl::forward_features(const torch::Tensor& x) {
  const int64_t S = options.image_size();
  const bool literal = options.channel_layout() == "literal";
  const int64_t unit = options.patch_size() * 8;
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.in_chans(), "ViM2: input must have shape (B, ", options.in_chans(),
              ", H, W), got ", x.sizes());
  TORCH_CHECK(literal ? (x.size(2) == S && x.size(3) == S) : (x.size(2) % unit == 0 && x.size(3) % unit == 0),
              "ViM2: input must have shape ",
              literal ? "(B, " + std::to_string(options.in_chans()) + ", " + std::to_string(S) + ", " +
                            std::to_string(S) + ") (channel_layout literal is tied to image_size)"
                      : "(B, C, H, W) with H and W multiples of " + std::to_string(unit),
              ", got ", x.sizes());
  auto h = stem_norm(stem(x).permute({0, 2, 3, 1}));  // (B, H/p, W/p, C_1)
  std::vector<torch::Tensor> features;
  for (int s = 0; s < kStages; ++s) {
    if (s > 0) h = merges[s - 1]->as<nn::PatchMerging2DImpl>()->forward(h);
    h = stages[s]->as<nn::ViM2StageImpl>()->forward(h);
    features.push_back(h);
  }
  return features;
}

torch::Tensor ViM2Impl::forward(const torch::Tensor& x) {
  auto h = norm(forward_features(x).back());
  return head(h.mean({1, 2}));
}

int64_t vim2_flops(const ViM2Options& o) {
  o.validate();
  const int64_t N = o.d_state();
  auto scan = [&](int64_t L, int64_t E) { return 9 * L * E * N + L * E; };
  int64_t side = o.stage_resolution(0);
  int64_t flops = side * side * o.dims()[0] * o.in_chans() * o.patch_size() * o.patch_size();
  for (int s = 0; s < kStages; ++s) {
    const int64_t C = o.dims()[s];
    side = o.stage_resolution(s);
    const int64_t L = side * side;
    if (s > 0) flops += L * 4 * o.dims()[s - 1] * C;  // patch merging reduction
    const int64_t E = o.expand() * C, R = (C + 15) / 16;
    const int64_t token = L * C * 2 * E + L * E * o.d_conv() * o.d_conv() +
                          4 * (L * E * (R + 2 * N) + L * R * E + scan(L, E)) + L * E * C;
    const int64_t Ec = o.channel_d_inner()[s];
    int64_t channel = 0;
    if (o.channel_layout() == "literal") {
      const int64_t K = o.channel_branches(), Rc = (L + 15) / 16;
      channel = C * L * Ec * (K == 4 ? 3 : 2) + K * C * Ec * o.channel_d_conv() +
                K * (C * Ec * (Rc + 2 * N) + C * Rc * Ec + scan(C, Ec)) + C * Ec * L;
    } else {
      channel = L * C * 2 * Ec + 2 * L * (Ec * o.channel_d_conv() + Ec * (1 + 2 * N) + Ec + scan(Ec, 1)) + L * Ec * C;
    }
    flops += o.depths()[s] * (2 * token + channel);  // each unit: two token and one channel mixer
  }
  flops += o.dims()[3] * o.num_classes();
  return flops;
}

ParameterShapes vim2_parameter_shapes(const ViM2Options& o) {
  o.validate();
  ShapeList out("ViM2");
  auto mul = [&](int64_t a, int64_t b) { return out.mul(a, b); };
  auto add = [&](const std::string& name, std::vector<int64_t> shape) { out.add(name, std::move(shape)); };
  auto layer_norm = [&](const std::string& prefix, int64_t n) {
    add(prefix + ".weight", {n});
    add(prefix + ".bias", {n});
  };
  // StackedS6(E, K) with state N and rank R (src/nn/stacked_s6.cpp).
  const int64_t N = o.d_state();
  auto stacked_s6 = [&](const std::string& prefix, int64_t E, int64_t K, int64_t R) {
    add(prefix + ".x_proj_weight", {K, R + 2 * N, E});
    add(prefix + ".dt_projs_weight", {K, E, R});
    add(prefix + ".dt_projs_bias", {K, E});
    add(prefix + ".A_logs", {mul(K, E), N});
    add(prefix + ".Ds", {mul(K, E)});
  };
  const auto& dims = o.dims();
  add("stem.weight", {dims[0], o.in_chans(), o.patch_size(), o.patch_size()});
  add("stem.bias", {dims[0]});
  layer_norm("stem_norm", dims[0]);
  for (int s = 0; s < kStages; ++s) {
    const int64_t C = dims[s];
    if (s > 0) {
      const std::string m = "merges." + std::to_string(s - 1);
      const int64_t c = dims[s - 1];
      layer_norm(m + ".norm", mul(4, c));
      add(m + ".reduction.weight", {mul(2, c), mul(4, c)});
    }
    const std::string st = "stages." + std::to_string(s);
    const int64_t n = mul(3, o.depths()[s]);
    const int64_t side = o.stage_resolution(s), L = mul(side, side);
    const int64_t E = mul(o.expand(), C), Ec = o.channel_d_inner()[s];
    for (int64_t i = 0; i < n; ++i) {
      const std::string b = st + ".blocks." + std::to_string(i);
      layer_norm(b + ".norm", C);
      const std::string mx = b + ".mixer";
      if (o.block_order()[i % 3] == 'T') {  // SS2D (src/nn/ss2d.cpp)
        add(mx + ".in_proj.weight", {mul(2, E), C});
        add(mx + ".conv2d.weight", {E, 1, o.d_conv(), o.d_conv()});
        add(mx + ".conv2d.bias", {E});
        stacked_s6(mx + ".s6", E, 4, (C + 15) / 16);
        if (o.out_norm()) layer_norm(mx + ".out_norm", E);
        add(mx + ".out_proj.weight", {C, E});
      } else if (o.channel_layout() == "literal") {  // ChannelMixer2D (src/nn/vim2_channel_mixer.cpp)
        const int64_t K = o.channel_branches();
        add(mx + ".in_proj.weight", {mul(2, Ec), L});
        add(mx + ".conv_weight", {mul(K, Ec), 1, o.channel_d_conv()});
        add(mx + ".conv_bias", {mul(K, Ec)});
        stacked_s6(mx + ".s6", Ec, K, (L + 15) / 16);
        add(mx + ".out_proj.weight", {L, Ec});
      } else {  // TokenWiseChannelMixer
        add(mx + ".in_proj.weight", {mul(2, Ec), C});
        add(mx + ".conv_weight", {2, 1, o.channel_d_conv()});
        add(mx + ".conv_bias", {2});
        stacked_s6(mx + ".s6", 1, 2, 1);
        add(mx + ".out_proj.weight", {C, Ec});
      }
    }
    if (o.weighted_average())
      for (int64_t k = 1; k <= n; ++k) add(st + ".averaging.w_" + std::to_string(k), {k + 1});
  }
  layer_norm("norm", dims[3]);
  add("head.weight", {o.num_classes(), dims[3]});
  add("head.bias", {o.num_classes()});
  return std::move(out).take();
}

int64_t vim2_parameter_count(const ViM2Options& options) { return count_parameters(vim2_parameter_shapes(options)); }

std::string ViM2Impl::summary() const {
  std::ostringstream os;
  const auto count = [](const torch::nn::Module& m) {
    int64_t n = 0;
    for (const auto& p : m.parameters()) n += p.numel();
    return n;
  };
  os << "ViM2 image_size " << options.image_size() << ", patch " << options.patch_size() << ", dims ["
     << options.dims()[0] << ", " << options.dims()[1] << ", " << options.dims()[2] << ", " << options.dims()[3]
     << "], depths (T,T,C units) [" << options.depths()[0] << ", " << options.depths()[1] << ", " << options.depths()[2]
     << ", " << options.depths()[3] << "], channel_layout " << options.channel_layout()
     << " (K = " << options.channel_branches() << "), classes " << options.num_classes() << "\n";
  const auto row = [&](const std::string& name, int64_t n) {
    os << "  " << std::left << std::setw(22) << name << std::right << std::setw(12) << n << "\n";
  };
  row("stem + stem_norm", count(*stem) + count(*stem_norm));
  for (int s = 0; s < kStages; ++s) {
    if (s > 0) row("merges." + std::to_string(s - 1), count(*merges->ptr(s - 1)));
    const auto& stage = *stages->ptr<nn::ViM2StageImpl>(s);
    int64_t token = 0, channel = 0;
    for (size_t i = 0; i < stage.blocks->size(); ++i) {
      (options.block_order()[i % 3] == 'T' ? token : channel) += count(*stage.blocks->ptr(i));
    }
    row("stages." + std::to_string(s) + " token", token);
    row("stages." + std::to_string(s) + " channel", channel);
    if (!stage.averaging.is_empty()) row("stages." + std::to_string(s) + " averaging", count(*stage.averaging));
  }
  row("norm + head", count(*norm) + count(*head));
  row("total", count(*this));
  os << "  FLOPs per image: " << std::fixed << std::setprecision(2) << static_cast<double>(vim2_flops(options)) / 1e9
     << " G (multiply-add = 1; scan 9*L*E*N + L*E per direction)\n";
  return os.str();
}

}  // namespace mmx::models
