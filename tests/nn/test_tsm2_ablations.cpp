// Tests of the TSM2 ablations (MambaMixer §6.5, Table 7): the two non-selective mixers against their
// closed forms in float64, the sequential stack without averaging, and the variants' parameter
// counts written out by hand.
#include "mmx/models/tsm2.h"
#include "mmx/nn/ablation_mixers.h"
#include "mmx/nn/mamba_mixer.h"
#include "nn/nn_test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace mmx::models {
namespace {

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

TEST(Ablations, VariateMlpIsTheMlpOverTheVariatesOfEveryCell) {
  torch::manual_seed(3);
  nn::VariateMLP mlp(nn::VariateMLPOptions(5));
  mlp->to(torch::kFloat64);
  const auto x = torch::randn({2, 5, 4, 3}, kF64);
  const auto y = mlp(x);
  const auto W1 = mlp->fc1->weight, b1 = mlp->fc1->bias, W2 = mlp->fc2->weight, b2 = mlp->fc2->bias;
  ASSERT_EQ(W1.sizes(), (std::vector<int64_t>{20, 5}));
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t p = 0; p < 4; ++p)
      for (int64_t k = 0; k < 3; ++k) {
        const auto v = x.index({b, torch::indexing::Slice(), p, k});  // the 5 variates of one cell
        const auto h = torch::matmul(W1, v) + b1;
        const auto g = 0.5 * h * (1.0 + torch::erf(h / std::sqrt(2.0)));  // exact GELU
        const auto expect = torch::matmul(W2, g) + b2;
        EXPECT_TRUE(torch::allclose(y.index({b, torch::indexing::Slice(), p, k}), expect, 1e-12, 1e-12))
            << b << " " << p << " " << k;
      }
  EXPECT_THROW(mlp(torch::randn({2, 4, 4, 3}, kF64)), c10::Error);
}

TEST(Ablations, TimeLinearIsOneLinearMapOverThePatches) {
  torch::manual_seed(4);
  nn::TimeLinear lin(nn::TimeLinearOptions(6));
  lin->to(torch::kFloat64);
  const auto x = torch::randn({2, 3, 6, 4}, kF64);
  const auto y = lin(x);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t m = 0; m < 3; ++m)
      for (int64_t k = 0; k < 4; ++k) {
        const auto v = x.index({b, m, torch::indexing::Slice(), k});
        const auto expect = torch::matmul(lin->proj->weight, v) + lin->proj->bias;
        EXPECT_TRUE(torch::allclose(y.index({b, m, torch::indexing::Slice(), k}), expect, 1e-12, 1e-12));
      }
  EXPECT_THROW(lin(torch::randn({2, 3, 5, 4}, kF64)), c10::Error);
}

TEST(Ablations, WithoutAveragingTheStackIsSequential) {
  torch::manual_seed(5);
  nn::MambaMixer stack(nn::MambaMixerOptions(8, 3)
                           .d_state(4)
                           .channel_mixer(nn::ChannelMixerKind::kMLP)
                           .n_channels(4)
                           .weighted_average(false));
  stack->to(torch::kFloat64);
  stack->eval();
  EXPECT_FALSE(stack->averaging);
  EXPECT_EQ(nn::count_parameters(*stack, "averaging"), 0);
  const auto x = torch::randn({2, 4, 5, 8}, kF64);
  torch::Tensor h = x;
  for (int64_t l = 0; l < 3; ++l) {
    auto* block = stack->blocks[l]->as<nn::MambaMixerBlock>();
    h = block->channel_mixer(block->token_mixer(h));
  }
  EXPECT_TRUE(torch::allclose(stack(x), h, 0, 0));
}

// The defaults (d 32, 2 blocks, expand 2, d_state 16, dt_rank 2, P 63, M 7): TSM2 has 241,742
// parameters, a selective channel mixer 13,696 without its norm, a selective token mixer 9,920,
// the averaging 14 scalars.
TEST(Ablations, ParameterCountsWrittenOut) {
  const TSM2Options o;
  // TSM2-MLP: each channel mixer becomes fc1 (7 -> 28) + fc2 (28 -> 7) = 224 + 203; no averaging.
  EXPECT_EQ(nn::count_parameters(*TSM2(TSM2Options(o).variant(TSM2Variant::kMLP))),
            241742 - 2 * 13696 - 14 + 2 * (7 * 28 + 28 + 28 * 7 + 7));
  // Mamba + Linear time: each token mixer becomes a 63 x 63 linear layer with bias; each channel
  // mixer loses its flipped direction (a conv of 64 x 4 + 64 and an S6 of 3,456).
  EXPECT_EQ(nn::count_parameters(*TSM2(TSM2Options(o).variant(TSM2Variant::kMambaLinearTime))),
            241742 - 2 * 9920 + 2 * (63 * 63 + 63) - 2 * (64 * 4 + 64 + 3456));
  // The MLP's parameters depend on M (TSM2's do not).
  EXPECT_EQ(nn::count_parameters(*TSM2(TSM2Options(o).variant(TSM2Variant::kMLP).n_vars(21))),
            241742 - 2 * 13696 - 14 + 2 * (21 * 84 + 84 + 84 * 21 + 21));
}

TEST(Ablations, VariantsTrainAndNameThemselves) {
  for (TSM2Variant v : {TSM2Variant::kMLP, TSM2Variant::kMambaLinearTime}) {
    SCOPED_TRACE(to_string(v));
    EXPECT_EQ(parse_tsm2_variant(to_string(v)), v);
    torch::manual_seed(6);
    TSM2 model(TSM2Options().seq_len(64).pred_len(8).n_vars(3).patch_len(8).stride(4).d_model(8).variant(v));
    const auto y = model(torch::randn({2, 64, 3}));
    ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 8, 3}));
    torch::mse_loss(y, torch::zeros_like(y)).backward();
    for (const auto& p : model->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_GT(p.value().grad().abs().max().item<double>(), 0.0) << p.key();
    }
    EXPECT_NE(model->summary().find("variant=" + to_string(v)), std::string::npos);
  }
  EXPECT_EQ(parse_tsm2_variant("tsm2"), TSM2Variant::kTSM2);
  EXPECT_THROW(parse_tsm2_variant("mlp"), c10::Error);
  EXPECT_THROW(TSM2(TSM2Options().variant(TSM2Variant::kMLP).channel_layout(nn::ChannelMixerLayout::kLiteral)),
               c10::Error);
}

}  // namespace
}  // namespace mmx::models
