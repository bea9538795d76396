// Tests of the TSM2 model (MambaMixer §5.1): parameter counts, shapes, gradients, dtype
// agreement and the summary (the weight-decay groups: tests/train/test_param_groups.cpp).
#include "mmx/models/tsm2.h"
#include "nn/nn_test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace mmx::models {
namespace {

using mmx::test::all_close;

// Parameter count of TSM2 written out from the parameter shapes of §3.2 and §5.1 (cell layout,
// non-affine RevIN).
int64_t expected_parameters(const TSM2Options& o) {
  const int64_t d = o.d_model(), E = o.expand() * d, N = o.d_state(), k = o.d_conv();
  const int64_t R = o.dt_rank().value_or((d + 15) / 16);
  const int64_t P = (o.seq_len() - o.patch_len()) / o.stride() + 1;
  const int64_t branch = (k + 1) * E + (R + 2 * N) * E + (R + 1) * E + N * E + E;
  const int64_t norm = 2 * d;
  const int64_t token = norm + 2 * E * d + branch + E * d;
  const int64_t channel = norm + 2 * E * d + 2 * branch + E * d;
  const int64_t n = o.n_layers();
  return (o.patch_len() + 1) * d + n * (token + channel) + n * (2 * n + 3) + norm + (P * d + 1) * o.pred_len();
}

TEST(TSM2, DefaultParameterCountIs241742) {
  TSM2Options o;
  EXPECT_EQ(o.n_patches(), 63);
  TSM2 model(o);
  EXPECT_EQ(nn::count_parameters(*model), 241742);
  EXPECT_EQ(nn::count_parameters(*model, "patch_embed"), 544);
  EXPECT_EQ(nn::count_parameters(*model, "backbone.blocks.0.token_mixer"), 9984);
  EXPECT_EQ(nn::count_parameters(*model, "backbone.blocks.1.token_mixer"), 9984);
  EXPECT_EQ(nn::count_parameters(*model, "backbone.blocks.0.channel_mixer"), 13760);
  EXPECT_EQ(nn::count_parameters(*model, "backbone.blocks.1.channel_mixer"), 13760);
  EXPECT_EQ(nn::count_parameters(*model, "backbone.averaging"), 14);
  EXPECT_EQ(nn::count_parameters(*model, "norm"), 64);
  EXPECT_EQ(nn::count_parameters(*model, "head"), 193632);
  EXPECT_EQ(expected_parameters(o), 241742);
}

TEST(TSM2, Horizon720ParameterCountIs1500350) {
  TSM2 model(TSM2Options().pred_len(720));
  EXPECT_EQ(nn::count_parameters(*model), 1500350);
}

TEST(TSM2, ParameterCountIndependentOfVariates) {
  for (int64_t m : {1, 7, 21, 321}) {
    EXPECT_EQ(nn::count_parameters(*TSM2(TSM2Options().n_vars(m))), 241742) << "n_vars " << m;
  }
}

TEST(TSM2, ParameterCountFormulaForOtherConfigs) {
  std::vector<TSM2Options> configs{
      TSM2Options().d_model(16).n_layers(1),
      TSM2Options().d_model(64).n_layers(3).pred_len(192),
      TSM2Options().d_model(128).n_layers(4).pred_len(336).patch_len(8).stride(8),
      TSM2Options().expand(1).d_state(8).seq_len(336).patch_len(16).stride(16),
      TSM2Options().d_model(48).dt_rank(5).d_conv(2).n_layers(2),
  };
  for (const auto& o : configs) {
    TSM2 model(o);
    EXPECT_EQ(nn::count_parameters(*model), expected_parameters(o))
        << "d " << o.d_model() << " layers " << o.n_layers() << " H " << o.pred_len();
  }
  // RevIN affine adds 2 M.
  EXPECT_EQ(nn::count_parameters(*TSM2(TSM2Options().revin_affine(true))), 241742 + 14);
}

TEST(TSM2, CheckpointKeysAreStable) {
  TSM2 model(TSM2Options().n_layers(1));
  std::vector<std::string> names;
  for (const auto& p : model->named_parameters()) names.push_back(p.key());
  const std::vector<std::string> expected{
      "patch_embed.weight",
      "patch_embed.bias",
      "backbone.blocks.0.token_mixer.norm.weight",
      "backbone.blocks.0.token_mixer.norm.bias",
      "backbone.blocks.0.token_mixer.mixer.in_proj.weight",
      "backbone.blocks.0.token_mixer.mixer.conv1d.0.weight",
      "backbone.blocks.0.token_mixer.mixer.conv1d.0.bias",
      "backbone.blocks.0.token_mixer.mixer.s6.0.A_log",
      "backbone.blocks.0.token_mixer.mixer.s6.0.D",
      "backbone.blocks.0.token_mixer.mixer.s6.0.x_proj.weight",
      "backbone.blocks.0.token_mixer.mixer.s6.0.dt_proj.weight",
      "backbone.blocks.0.token_mixer.mixer.s6.0.dt_proj.bias",
      "backbone.blocks.0.token_mixer.mixer.out_proj.weight",
      "backbone.blocks.0.channel_mixer.norm.weight",
      "backbone.blocks.0.channel_mixer.norm.bias",
      "backbone.blocks.0.channel_mixer.mixer.in_proj.weight",
      "backbone.blocks.0.channel_mixer.mixer.conv1d.0.weight",
      "backbone.blocks.0.channel_mixer.mixer.conv1d.0.bias",
      "backbone.blocks.0.channel_mixer.mixer.conv1d.1.weight",
      "backbone.blocks.0.channel_mixer.mixer.conv1d.1.bias",
      "backbone.blocks.0.channel_mixer.mixer.s6.0.A_log",
      "backbone.blocks.0.channel_mixer.mixer.s6.0.D",
      "backbone.blocks.0.channel_mixer.mixer.s6.0.x_proj.weight",
      "backbone.blocks.0.channel_mixer.mixer.s6.0.dt_proj.weight",
      "backbone.blocks.0.channel_mixer.mixer.s6.0.dt_proj.bias",
      "backbone.blocks.0.channel_mixer.mixer.s6.1.A_log",
      "backbone.blocks.0.channel_mixer.mixer.s6.1.D",
      "backbone.blocks.0.channel_mixer.mixer.s6.1.x_proj.weight",
      "backbone.blocks.0.channel_mixer.mixer.s6.1.dt_proj.weight",
      "backbone.blocks.0.channel_mixer.mixer.s6.1.dt_proj.bias",
      "backbone.blocks.0.channel_mixer.mixer.out_proj.weight",
      "backbone.averaging.alpha_1",
      "backbone.averaging.beta_1",
      "backbone.averaging.theta_1",
      "backbone.averaging.gamma_1",
      "norm.weight",
      "norm.bias",
      "head.weight",
      "head.bias",
  };
  EXPECT_EQ(names, expected);
}

TEST(TSM2, OutputShapeAndGradientReachesEveryParameter) {
  torch::manual_seed(21);
  TSM2 model(TSM2Options().n_vars(3).revin_affine(true));
  model->train();
  auto x = torch::randn({2, 512, 3}).cumsum(1) * 0.1 + 4.0;
  auto target = torch::randn({2, 96, 3});
  auto y = model(x);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 96, 3}));
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  auto loss = torch::mse_loss(y, target);
  loss.backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
    EXPECT_GT(p.value().grad().abs().max().item<double>(), 0.0) << p.key();
  }
}

TEST(TSM2, RejectsWrongInputShape) {
  TSM2 model(TSM2Options().n_vars(3));
  EXPECT_THROW(model(torch::randn({2, 511, 3})), c10::Error);
  EXPECT_THROW(model(torch::randn({2, 512, 4})), c10::Error);
  EXPECT_THROW(model(torch::randn({512, 3})), c10::Error);
  EXPECT_THROW(TSM2(TSM2Options().patch_len(600)), c10::Error);
  EXPECT_THROW(TSM2(TSM2Options().dropout(1.0)), c10::Error);
}

TEST(TSM2, Float64AndFloat32Agree) {
  torch::manual_seed(22);
  TSM2 model(TSM2Options().n_vars(4).seq_len(96).pred_len(24));
  model->eval();
  {
    // Non-trivial averaging coefficients so every path contributes.
    torch::NoGradGuard g;
    for (auto& p : model->backbone->averaging->parameters()) p.add_(torch::rand_like(p) * 0.5);
  }
  auto x = torch::randn({3, 96, 4}).cumsum(1) * 0.2;
  torch::Tensor y32;
  {
    torch::NoGradGuard g;
    y32 = model(x);
    model->to(torch::kFloat64);
    auto y64 = model(x.to(torch::kFloat64));
    EXPECT_TRUE(all_close(y32, y64, 1e-4, 1e-4 * y64.abs().max().item<double>()));
  }
}

TEST(TSM2, EvalIsDeterministicAndBatchIndependent) {
  torch::manual_seed(23);
  TSM2 model(TSM2Options().n_vars(2).seq_len(64).pred_len(8).patch_len(8).stride(4));
  model->eval();
  torch::NoGradGuard g;
  auto x = torch::randn({3, 64, 2});
  auto y = model(x);
  EXPECT_TRUE(torch::equal(model(x), y));
  EXPECT_TRUE(all_close(model(x.narrow(0, 1, 1)), y.narrow(0, 1, 1), 1e-5, 1e-6));
}

TEST(TSM2, SummaryListsModuleCounts) {
  TSM2 model;
  const auto s = model->summary();
  for (const char* needle :
       {"seq_len=512", "pred_len=96", "n_patches=63", "patch_embed", "544", "backbone.blocks.0.token_mixer", "9984",
        "backbone.blocks.1.channel_mixer", "13760", "backbone.averaging", "193632", "total", "241742"}) {
    EXPECT_NE(s.find(needle), std::string::npos) << needle << "\n" << s;
  }
}

}  // namespace
}  // namespace mmx::models
