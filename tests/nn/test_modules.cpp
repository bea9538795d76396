// Tests of the MambaMixer modules (MambaMixer §3.1, §3.2, §5.1): initial values, closed forms,
// causality, the bidirectional flip equivalence, norms, stochastic depth, weighted averaging.
#include "mmx/nn/causal_conv1d.h"
#include "mmx/nn/mamba_mixer.h"
#include "mmx/nn/norm.h"
#include "mmx/nn/s6.h"
#include "mmx/nn/selective_mixer.h"
#include "nn/nn_test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace mmx::nn {
namespace {

using mmx::test::all_close;
const auto kF64 = torch::kFloat64;

// ---------------------------------------------------------------------------------------------
// S6

TEST(S6, AutoDtRankIsCeilOfWidthOver16) {
  EXPECT_EQ(auto_dt_rank(1), 1);
  EXPECT_EQ(auto_dt_rank(16), 1);
  EXPECT_EQ(auto_dt_rank(17), 2);
  EXPECT_EQ(auto_dt_rank(32), 2);
  EXPECT_EQ(auto_dt_rank(96), 6);
  EXPECT_THROW(auto_dt_rank(0), c10::Error);
}

TEST(S6, InitialValuesFollowMamba) {
  torch::manual_seed(1);
  S6 s6(S6Options(32));  // E = 64, N = 16, R = 2
  const int64_t E = 64, N = 16, R = 2;
  ASSERT_EQ(s6->x_proj->weight.sizes(), (std::vector<int64_t>{R + 2 * N, E}));
  EXPECT_FALSE(s6->x_proj->bias.defined());
  ASSERT_EQ(s6->dt_proj->weight.sizes(), (std::vector<int64_t>{E, R}));
  ASSERT_EQ(s6->A_log.sizes(), (std::vector<int64_t>{E, N}));
  for (int64_t n = 0; n < N; ++n) {
    const double expected = std::log(static_cast<double>(n + 1));
    EXPECT_NEAR(s6->A_log.index({torch::indexing::Slice(), n}).min().item<double>(), expected, 1e-6);
    EXPECT_NEAR(s6->A_log.index({torch::indexing::Slice(), n}).max().item<double>(), expected, 1e-6);
  }
  EXPECT_TRUE(torch::equal(s6->D, torch::ones({E})));
  auto dt = torch::softplus(s6->dt_proj->bias.to(kF64));
  EXPECT_GE(dt.min().item<double>(), 1e-3 * (1 - 1e-5));
  EXPECT_LE(dt.max().item<double>(), 0.1 * (1 + 1e-5));
  // log-uniform over two decades: the samples spread over most of the range.
  EXPECT_LT(dt.min().item<double>(), 3e-3);
  EXPECT_GT(dt.max().item<double>(), 3e-2);
  const double bound = 1.0 / std::sqrt(static_cast<double>(R));
  EXPECT_LE(s6->dt_proj->weight.abs().max().item<double>(), bound);
  EXPECT_GT(s6->dt_proj->weight.abs().max().item<double>(), 0.8 * bound);
  EXPECT_LE(s6->x_proj->weight.abs().max().item<double>(), 1.0 / std::sqrt(64.0));
}

TEST(S6, DtFloorClampsInitialStep) {
  torch::manual_seed(2);
  S6 s6(S6Options(16).s6_init(S6InitOptions().dt_min(1e-6).dt_max(1e-5).dt_init_floor(1e-4)));
  auto dt = torch::softplus(s6->dt_proj->bias.to(kF64));
  EXPECT_NEAR(dt.min().item<double>(), 1e-4, 1e-9);
  EXPECT_NEAR(dt.max().item<double>(), 1e-4, 1e-9);
}

TEST(S6, ForwardMatchesClosedFormBothDirectionsAndDtypes) {
  torch::manual_seed(3);
  for (bool reverse : {false, true}) {
    S6 s6(S6Options(8).d_inner(12).d_state(5).dt_rank(3).reverse(reverse));
    auto u = torch::randn({2, 12, 9});
    auto z = torch::randn({2, 12, 9});
    auto expected = mmx::test::s6_closed_form(*s6, u, z, reverse);
    EXPECT_TRUE(all_close(s6(u, z), expected, 1e-4, 1e-5)) << "float32, reverse " << reverse;
    auto ungated = mmx::test::s6_closed_form(*s6, u, {}, reverse);
    EXPECT_TRUE(all_close(s6(u), ungated, 1e-4, 1e-5)) << "no gate, reverse " << reverse;
    s6->to(kF64);
    EXPECT_TRUE(all_close(s6(u.to(kF64), z.to(kF64)), expected, 1e-10, 1e-12)) << "float64, reverse " << reverse;
  }
}

TEST(S6, ReverseEqualsFlippedForward) {
  torch::manual_seed(4);
  S6 fwd(S6Options(16).d_state(4));
  S6 bwd(S6Options(16).d_state(4).reverse(true));
  {
    torch::NoGradGuard g;
    for (auto& p : bwd->named_parameters()) p.value().copy_(fwd->named_parameters()[p.key()]);
  }
  fwd->to(kF64);
  bwd->to(kF64);
  auto u = torch::randn({3, 32, 11}, kF64), z = torch::randn({3, 32, 11}, kF64);
  auto flipped = fwd(u.flip({2}), z.flip({2})).flip({2});
  EXPECT_TRUE(all_close(bwd(u, z), flipped, 1e-12, 1e-12));
}

TEST(S6, RejectsBadShapes) {
  S6 s6(S6Options(8));
  EXPECT_THROW(s6(torch::randn({2, 15, 4})), c10::Error);
  EXPECT_THROW(s6(torch::randn({16, 4})), c10::Error);
  EXPECT_THROW(s6(torch::randn({2, 16, 4}), torch::randn({2, 16, 5})), c10::Error);
}

// ---------------------------------------------------------------------------------------------
// CausalConv1d

TEST(CausalConv1d, MatchesDirectSumAndZeroPadding) {
  torch::manual_seed(5);
  CausalConv1d conv(CausalConv1dOptions(3, 4));
  conv->to(kF64);
  auto x = torch::randn({2, 3, 7}, kF64);
  auto y = conv(x);
  auto w = conv->weight, b = conv->bias;
  auto expected = torch::zeros_like(x);
  for (int64_t t = 0; t < 7; ++t) {
    auto acc = b.unsqueeze(0).expand({2, 3}).clone();
    for (int64_t j = 0; j < 4; ++j) {
      const int64_t src = t - 3 + j;
      if (src >= 0) acc += w.index({torch::indexing::Slice(), 0, j}) * x.select(2, src);
    }
    expected.select(2, t).copy_(acc);
  }
  EXPECT_TRUE(all_close(y, expected, 1e-12, 1e-12));
}

TEST(CausalConv1d, ReverseEqualsFlipCausalFlip) {
  torch::manual_seed(6);
  CausalConv1d causal(CausalConv1dOptions(5, 4));
  CausalConv1d reverse(CausalConv1dOptions(5, 4).reverse(true));
  {
    torch::NoGradGuard g;
    reverse->weight.copy_(causal->weight);
    reverse->bias.copy_(causal->bias);
  }
  causal->to(kF64);
  reverse->to(kF64);
  for (int64_t L : {1, 3, 4, 10}) {
    auto x = torch::randn({2, 5, L}, kF64);
    EXPECT_TRUE(all_close(reverse(x), causal(x.flip({2})).flip({2}), 1e-12, 1e-12)) << "L " << L;
  }
}

// ---------------------------------------------------------------------------------------------
// SelectiveTokenMixer

// Copies every parameter of `src` into the same-named parameter of `dst`.
void copy_parameters(torch::nn::Module& dst, const torch::nn::Module& src) {
  torch::NoGradGuard g;
  auto from = src.named_parameters();
  for (auto& p : dst.named_parameters()) p.value().copy_(from[p.key()]);
}

TEST(SelectiveTokenMixer, ParameterShapesAndNames) {
  SelectiveTokenMixer m(SelectiveTokenMixerOptions(32).bidirectional(true));
  std::set<std::string> names;
  for (const auto& p : m->named_parameters()) names.insert(p.key());
  const std::set<std::string> expected{
      "in_proj.weight",     "conv1d.0.weight",     "conv1d.0.bias",     "conv1d.1.weight", "conv1d.1.bias",
      "s6.0.x_proj.weight", "s6.0.dt_proj.weight", "s6.0.dt_proj.bias", "s6.0.A_log",      "s6.0.D",
      "s6.1.x_proj.weight", "s6.1.dt_proj.weight", "s6.1.dt_proj.bias", "s6.1.A_log",      "s6.1.D",
      "out_proj.weight"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(m->in_proj->weight.sizes(), (std::vector<int64_t>{128, 32}));
  EXPECT_EQ(m->out_proj->weight.sizes(), (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(m->conv1d[0]->as<CausalConv1d>()->weight.sizes(), (std::vector<int64_t>{64, 1, 4}));
}

TEST(SelectiveTokenMixer, UnidirectionalMatchesClosedForm) {
  torch::manual_seed(7);
  SelectiveTokenMixer m(SelectiveTokenMixerOptions(8).d_state(4));
  m->to(kF64);
  auto x = torch::randn({3, 10, 8}, kF64);
  auto xz = torch::matmul(x, m->in_proj->weight.t()).transpose(1, 2);  // (3, 2E, L)
  auto u = xz.narrow(1, 0, 16), z = xz.narrow(1, 16, 16);
  auto* conv = m->conv1d[0]->as<CausalConv1d>();
  auto* s6 = m->s6[0]->as<S6>();
  auto g = mmx::test::s6_closed_form(*s6, torch::silu(conv->forward(u)), z, false);
  auto expected = torch::matmul(g.transpose(1, 2), m->out_proj->weight.t());
  EXPECT_TRUE(all_close(m(x), expected, 1e-10, 1e-12));
}

TEST(SelectiveTokenMixer, CausalAlongSequence) {
  torch::manual_seed(8);
  SelectiveTokenMixer m(SelectiveTokenMixerOptions(16));
  m->to(kF64);
  const int64_t L = 12;
  auto x = torch::randn({2, L, 16}, kF64);
  auto y = m(x);
  for (int64_t p : {0, 5, 11}) {
    auto x2 = x.clone();
    x2.select(1, p).add_(torch::randn({2, 16}, kF64));
    auto y2 = m(x2);
    if (p > 0) {
      EXPECT_TRUE(torch::equal(y.narrow(1, 0, p), y2.narrow(1, 0, p))) << "p " << p;
    }
    EXPECT_GT((y - y2).narrow(1, p, L - p).abs().max().item<double>(), 1e-6) << "p " << p;
  }
}

TEST(SelectiveTokenMixer, LeadingDimsAreIndependentSequences) {
  torch::manual_seed(9);
  SelectiveTokenMixer m(SelectiveTokenMixerOptions(8));
  m->to(kF64);
  auto grid = torch::randn({2, 3, 6, 8}, kF64);  // (B, M, P, d): mixes along P for each (b, m)
  auto y = m(grid);
  ASSERT_EQ(y.sizes(), grid.sizes());
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t v = 0; v < 3; ++v) EXPECT_TRUE(all_close(y[b][v], m(grid[b][v].unsqueeze(0))[0], 1e-12, 1e-12));
}

TEST(SelectiveTokenMixer, BidirectionalEqualsExplicitFlipFormulation) {
  torch::manual_seed(10);
  SelectiveTokenMixer bi(SelectiveTokenMixerOptions(8).d_state(6).bidirectional(true));
  bi->to(kF64);
  // The backward branch as the channel mixer of §3.2 writes it: flip, causal conv and forward
  // scan, flip back,
  // with the backward branch's own weights.
  CausalConv1d conv_b(CausalConv1dOptions(16, 4));
  S6 s6_b(S6Options(8).d_inner(16).d_state(6));
  conv_b->to(kF64);
  s6_b->to(kF64);
  copy_parameters(*conv_b, *bi->conv1d[1]);
  copy_parameters(*s6_b, *bi->s6[1]);
  auto* conv_f = bi->conv1d[0]->as<CausalConv1d>();
  auto* s6_f = bi->s6[0]->as<S6>();

  auto x = torch::randn({2, 9, 8}, kF64);
  auto xz = torch::matmul(x, bi->in_proj->weight.t()).transpose(1, 2);
  auto u = xz.narrow(1, 0, 16), z = xz.narrow(1, 16, 16);
  auto a_f = s6_f->forward(torch::silu(conv_f->forward(u)));
  auto a_b = s6_b(torch::silu(conv_b(u.flip({2})))).flip({2});
  auto g = a_f * torch::silu(z) + a_b * torch::silu(z);
  auto expected = torch::matmul(g.transpose(1, 2), bi->out_proj->weight.t());
  EXPECT_TRUE(all_close(bi(x), expected, 1e-10, 1e-12));
}

// ---------------------------------------------------------------------------------------------
// SelectiveChannelMixer

TEST(SelectiveChannelMixer, LayoutNames) {
  EXPECT_EQ(parse_channel_mixer_layout("cell"), ChannelMixerLayout::kCell);
  EXPECT_EQ(parse_channel_mixer_layout("literal"), ChannelMixerLayout::kLiteral);
  EXPECT_EQ(parse_channel_mixer_layout("token_wise"), ChannelMixerLayout::kTokenWise);
  EXPECT_EQ(to_string(ChannelMixerLayout::kTokenWise), "token_wise");
  EXPECT_THROW(parse_channel_mixer_layout("rows"), c10::Error);
  EXPECT_THROW(SelectiveChannelMixer(SelectiveChannelMixerOptions(8).layout(ChannelMixerLayout::kTokenWise)),
               c10::Error);
  EXPECT_THROW(SelectiveChannelMixer(SelectiveChannelMixerOptions(8).layout(ChannelMixerLayout::kLiteral)), c10::Error);
}

TEST(SelectiveChannelMixer, CellMixesVariatesWithinEachPatch) {
  torch::manual_seed(11);
  SelectiveChannelMixer cm(SelectiveChannelMixerOptions(8));
  cm->to(kF64);
  auto x = torch::randn({2, 5, 4, 8}, kF64);  // (B, M, P, d)
  auto y = cm(x);
  ASSERT_EQ(y.sizes(), x.sizes());
  // Each (b, p) is one bidirectional sequence over M: the body applied to x[b, :, p, :].
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t p = 0; p < 4; ++p) {
      auto seq = x[b].select(1, p).unsqueeze(0);  // (1, M, d)
      EXPECT_TRUE(all_close(y[b].select(1, p), cm->SelectiveTokenMixerImpl::forward(seq)[0], 1e-12, 1e-12));
    }
  // Changing cell (m = 2, p = 1) changes every variate at patch 1 (the forward scan carries it to
  // m > 2, the backward scan to m < 2) and nothing at the other patches.
  auto x2 = x.clone();
  x2.select(1, 2).select(1, 1).add_(1.0);
  auto diff = (cm(x2) - y).abs();  // (B, M, P, d)
  for (int64_t p : {0, 2, 3}) EXPECT_EQ(diff.select(2, p).max().item<double>(), 0.0) << "p " << p;
  for (int64_t m = 0; m < 5; ++m) EXPECT_GT(diff.select(1, m).select(1, 1).min().item<double>(), 0.0) << "m " << m;
}

TEST(SelectiveChannelMixer, LiteralUsesFlattenedTokensAsFeatures) {
  torch::manual_seed(12);
  SelectiveChannelMixer cm(SelectiveChannelMixerOptions(4).layout(ChannelMixerLayout::kLiteral).n_tokens(6));
  // step features 24 -> E_c = 8, R = ceil(24/16) = 2
  EXPECT_EQ(cm->in_proj->weight.sizes(), (std::vector<int64_t>{16, 24}));
  EXPECT_EQ(cm->out_proj->weight.sizes(), (std::vector<int64_t>{24, 8}));
  EXPECT_EQ(cm->s6[0]->as<S6>()->dt_proj->weight.sizes(), (std::vector<int64_t>{8, 2}));
  cm->to(kF64);
  auto x = torch::randn({2, 3, 6, 4}, kF64);
  auto y = cm(x);
  ASSERT_EQ(y.sizes(), x.sizes());
  auto expected = cm->SelectiveTokenMixerImpl::forward(x.reshape({2, 3, 24})).reshape(x.sizes());
  EXPECT_TRUE(all_close(y, expected, 1e-12, 1e-12));
  EXPECT_THROW(cm(torch::randn({2, 3, 5, 4}, kF64)), c10::Error);
}

// ---------------------------------------------------------------------------------------------
// Norm2D and RevIN

TEST(Norm2D, MatchesPerSampleFormulaWithAffine) {
  torch::manual_seed(13);
  Norm2D norm(Norm2DOptions(5));
  norm->to(kF64);
  {
    torch::NoGradGuard g;
    norm->weight.uniform_(0.5, 2.0);
    norm->bias.normal_();
  }
  auto x = torch::randn({3, 4, 6, 5}, kF64) * 3 + 2;
  auto y = norm(x);
  for (int64_t b = 0; b < 3; ++b) {
    auto xb = x[b];
    const double mean = xb.mean().item<double>();
    const double var = ((xb - mean) * (xb - mean)).mean().item<double>();
    auto expected = (xb - mean) / std::sqrt(var + 1e-5) * norm->weight + norm->bias;
    EXPECT_TRUE(all_close(y[b], expected, 1e-12, 1e-12)) << "sample " << b;
  }
  EXPECT_THROW(norm(torch::randn({3, 4}, kF64)), c10::Error);
}

TEST(RevIN, MatchesFormulaAndInverts) {
  torch::manual_seed(14);
  auto x =
      torch::randn({2, 50, 3}, kF64) * torch::tensor({1.0, 10.0, 0.1}, kF64) + torch::tensor({5.0, -3.0, 0.0}, kF64);
  for (bool affine : {false, true}) {
    RevIN revin(RevINOptions(3).affine(affine));
    revin->to(kF64);
    if (affine) {
      torch::NoGradGuard g;
      revin->weight.uniform_(0.5, 2.0);
      revin->bias.normal_();
    }
    auto [y, stats] = revin->normalize(x);
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t m = 0; m < 3; ++m) {
        auto s = x[b].select(1, m);
        const double mean = s.mean().item<double>();
        const double var = ((s - mean) * (s - mean)).mean().item<double>();  // population
        auto expected = (s - mean) / std::sqrt(var + 1e-5);
        if (affine) expected = expected * revin->weight[m] + revin->bias[m];
        EXPECT_TRUE(all_close(y[b].select(1, m), expected, 1e-12, 1e-12));
        EXPECT_NEAR(stats.stdev[b][0][m].item<double>(), std::sqrt(var + 1e-5), 1e-12);
      }
    EXPECT_TRUE(all_close(revin->denormalize(y, stats), x, 1e-12, 1e-12)) << "affine " << affine;
    EXPECT_EQ(revin->parameters().size(), affine ? 2u : 0u);
  }
  RevIN revin(RevINOptions(3));
  EXPECT_THROW(revin->normalize(torch::randn({2, 50, 4})), c10::Error);
}

// ---------------------------------------------------------------------------------------------
// DropPath

TEST(DropPath, IdentityInEvalAndAtZeroRate) {
  DropPath dp(DropPathOptions(0.5));
  dp->eval();
  auto x = torch::randn({8, 3, 4});
  EXPECT_TRUE(torch::equal(dp(x), x));
  DropPath none(DropPathOptions(0.0));
  none->train();
  EXPECT_TRUE(torch::equal(none(x), x));
  EXPECT_THROW(DropPath(DropPathOptions(1.0)), c10::Error);
}

TEST(DropPath, DropsWholeSamplesInTraining) {
  DropPath dp(DropPathOptions(0.25));
  dp->train();
  auto x = torch::randn({400, 3, 5}, kF64);
  torch::manual_seed(15);
  auto y = dp(x);
  int64_t dropped = 0;
  for (int64_t b = 0; b < 400; ++b) {
    if (y[b].abs().max().item<double>() == 0.0) {
      ++dropped;
    } else {
      EXPECT_TRUE(all_close(y[b], x[b] / 0.75, 1e-15, 0.0)) << "sample " << b;
    }
  }
  EXPECT_GT(dropped, 70);  // expectation 100, sd ~8.7
  EXPECT_LT(dropped, 130);
  torch::manual_seed(15);
  EXPECT_TRUE(torch::equal(dp(x), y));  // same seed, same mask
}

// ---------------------------------------------------------------------------------------------
// WeightedAverage

TEST(WeightedAverage, CountsAndInitialPattern) {
  for (int64_t n = 1; n <= 4; ++n) {
    WeightedAverage wa{WeightedAverageOptions(n)};
    EXPECT_EQ(wa->num_scalars(), n * (2 * n + 3));
    EXPECT_EQ(count_parameters(*wa), n * (2 * n + 3));
    for (int64_t l = 1; l <= n; ++l) {
      const auto& a = wa->alpha[l - 1];
      const auto& b = wa->beta[l - 1];
      const auto& t = wa->theta[l - 1];
      const auto& g = wa->gamma[l - 1];
      ASSERT_EQ(a.numel(), l);
      ASSERT_EQ(b.numel(), l);
      ASSERT_EQ(t.numel(), l + 1);
      ASSERT_EQ(g.numel(), l);
      EXPECT_EQ(a.abs().sum().item<float>(), 0.0f);
      EXPECT_EQ(g.abs().sum().item<float>(), 0.0f);
      EXPECT_EQ(b[l - 1].item<float>(), 1.0f);
      EXPECT_EQ(b.abs().sum().item<float>(), 1.0f);
      EXPECT_EQ(t[l].item<float>(), 1.0f);
      EXPECT_EQ(t.abs().sum().item<float>(), 1.0f);
      EXPECT_TRUE(wa->named_parameters().contains("theta_" + std::to_string(l)));
    }
  }
  EXPECT_THROW(WeightedAverage(WeightedAverageOptions(0)), c10::Error);
}

TEST(WeightedAverage, InputsAreTheStatedSums) {
  torch::manual_seed(16);
  WeightedAverage wa(WeightedAverageOptions(3));
  wa->to(kF64);
  {
    torch::NoGradGuard g;
    for (auto& p : wa->parameters()) p.normal_();
  }
  std::vector<torch::Tensor> yt, yc;
  for (int i = 0; i < 4; ++i) {
    yt.push_back(torch::randn({2, 3}, kF64));
    yc.push_back(torch::randn({2, 3}, kF64));
  }
  yc[0] = yt[0];  // y_T^(0) = y_C^(0) = x
  for (int64_t l = 1; l <= 3; ++l) {
    auto tok = torch::zeros({2, 3}, kF64), chan = torch::zeros({2, 3}, kF64);
    for (int64_t i = 0; i < l; ++i) {
      tok += wa->alpha[l - 1][i] * yt[i] + wa->beta[l - 1][i] * yc[i];
      chan += wa->gamma[l - 1][i] * yc[i];
    }
    for (int64_t i = 0; i <= l; ++i) chan += wa->theta[l - 1][i] * yt[i];
    EXPECT_TRUE(all_close(wa->token_input(l, yt, yc), tok, 1e-12, 1e-12)) << "l " << l;
    EXPECT_TRUE(all_close(wa->channel_input(l, yt, yc), chan, 1e-12, 1e-12)) << "l " << l;
  }
  EXPECT_THROW(wa->token_input(0, yt, yc), c10::Error);
  EXPECT_THROW(wa->channel_input(2, {yt[0], yt[1]}, yc), c10::Error);
}

// ---------------------------------------------------------------------------------------------
// MambaMixer stack

TEST(MambaMixer, AtInitEqualsSequentialStack) {
  torch::manual_seed(17);
  MambaMixer mm(MambaMixerOptions(8, 3).d_state(4));
  mm->to(kF64);
  auto x = torch::randn({2, 3, 5, 8}, kF64);
  auto h = x;
  for (const auto& block : *mm->blocks) {
    auto* b = block->as<MambaMixerBlock>();
    h = b->channel_mixer(b->token_mixer(h));
  }
  EXPECT_TRUE(all_close(mm(x), h, 1e-12, 1e-12));
}

TEST(MambaMixer, WithLearnedCoefficientsFollowsSection31) {
  torch::manual_seed(18);
  MambaMixer mm(MambaMixerOptions(8, 2).d_state(4));
  mm->to(kF64);
  {
    torch::NoGradGuard g;
    for (auto& p : mm->averaging->parameters()) p.uniform_(-1.0, 1.0);
  }
  auto x = torch::randn({2, 3, 5, 8}, kF64);
  auto* b1 = mm->blocks[0]->as<MambaMixerBlock>();
  auto* b2 = mm->blocks[1]->as<MambaMixerBlock>();
  const auto& a = mm->averaging->alpha;
  const auto& be = mm->averaging->beta;
  const auto& th = mm->averaging->theta;
  const auto& ga = mm->averaging->gamma;
  // 𝓛 = 2 written out term by term.
  auto yt1 = b1->token_mixer(a[0][0] * x + be[0][0] * x);
  auto yc1 = b1->channel_mixer(th[0][0] * x + th[0][1] * yt1 + ga[0][0] * x);
  auto yt2 = b2->token_mixer(a[1][0] * x + a[1][1] * yt1 + be[1][0] * x + be[1][1] * yc1);
  auto yc2 = b2->channel_mixer(th[1][0] * x + th[1][1] * yt1 + th[1][2] * yt2 + ga[1][0] * x + ga[1][1] * yc1);
  EXPECT_TRUE(all_close(mm(x), yc2, 1e-12, 1e-12));
}

TEST(MambaMixer, SubBlockParameterCountsMatchSpec) {
  // Our arithmetic from the parameter shapes: d = 32, N = 16, expand 2, k = 4 -> token 9,984,
  // channel 13,760.
  MambaMixer mm(MambaMixerOptions(32, 2));
  EXPECT_EQ(count_parameters(*mm, "blocks.0.token_mixer"), 9984);
  EXPECT_EQ(count_parameters(*mm, "blocks.0.channel_mixer"), 13760);
  EXPECT_EQ(count_parameters(*mm, "blocks.1.token_mixer"), 9984);
  EXPECT_EQ(count_parameters(*mm, "averaging"), 14);
  EXPECT_EQ(count_parameters(*mm), 2 * (9984 + 13760) + 14);
  // General formula, per direction: conv (k+1)E + x_proj (R+2N)E + dt_proj (R+1)E + A_log NE + D E.
  for (auto [d, N, expand, k] : std::vector<std::array<int64_t, 4>>{{16, 8, 1, 3}, {64, 16, 2, 4}, {33, 4, 3, 2}}) {
    const int64_t E = expand * d, R = (d + 15) / 16;
    const int64_t branch = (k + 1) * E + (R + 2 * N) * E + (R + 1) * E + N * E + E;
    const int64_t token = 2 * d + 2 * E * d + branch + E * d;
    const int64_t channel = 2 * d + 2 * E * d + 2 * branch + E * d;
    MambaMixer m(MambaMixerOptions(d, 1).d_state(N).expand(expand).d_conv(k));
    EXPECT_EQ(count_parameters(*m, "blocks.0.token_mixer"), token) << "d " << d;
    EXPECT_EQ(count_parameters(*m, "blocks.0.channel_mixer"), channel) << "d " << d;
    EXPECT_EQ(count_parameters(*m), token + channel + 5) << "d " << d;
  }
}

TEST(MambaMixer, CheckpointKeys) {
  MambaMixer mm(MambaMixerOptions(8, 1).d_state(4));
  auto params = mm->named_parameters();
  for (const char* key : {"blocks.0.token_mixer.norm.weight", "blocks.0.token_mixer.norm.bias",
                          "blocks.0.token_mixer.mixer.in_proj.weight", "blocks.0.token_mixer.mixer.conv1d.0.weight",
                          "blocks.0.token_mixer.mixer.s6.0.A_log", "blocks.0.token_mixer.mixer.out_proj.weight",
                          "blocks.0.channel_mixer.mixer.conv1d.1.bias", "blocks.0.channel_mixer.mixer.s6.1.D",
                          "blocks.0.channel_mixer.mixer.s6.1.dt_proj.bias", "averaging.alpha_1", "averaging.beta_1",
                          "averaging.theta_1", "averaging.gamma_1"}) {
    EXPECT_TRUE(params.contains(key)) << key;
  }
  EXPECT_FALSE(params.contains("blocks.0.token_mixer.mixer.s6.1.D"));  // time mixer: K = 1
}

TEST(MambaMixer, LayerNormOption) {
  MambaMixer mm(MambaMixerOptions(8, 1).d_state(4).norm(MixerNorm::kLayerNorm));
  auto* block = mm->blocks[0]->as<MambaMixerBlock>();
  EXPECT_NE(block->token_mixer->norm.ptr()->as<torch::nn::LayerNorm>(), nullptr);
  auto x = torch::randn({1, 2, 3, 8});
  EXPECT_EQ(mm(x).sizes(), x.sizes());
}

}  // namespace
}  // namespace mmx::nn
