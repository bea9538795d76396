// Tests of TSM2 with auxiliary information (MambaMixer §5.5): the input checks, the parameter count
// written out, and that the forecast reads the future covariates and the static features.
#include "mmx/models/tsm2.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace mmx::models {
namespace {

TSM2Options small() { return TSM2Options().seq_len(64).pred_len(8).n_vars(3).patch_len(8).stride(4).d_model(8); }

// Defaults with one future covariate (H 96, L 512, d_state 16, d_conv 4): the future mixer (width
// 96, expand 1, dt_rank 6, two directions) has in_proj 2*96*96, convs 2*(96*4 + 96), S6s
// 2*(96*16 + 96 + 38*96 + 96*6 + 96) and out_proj 96*96 = 40,512; future_proj 96 -> 512 has
// 49,664; the backbone reads 1,024 steps, so the head grows from 63 to 127 patches.
TEST(TSM2Aux, ParameterCountWrittenOut) {
  const int64_t mixer = 2 * 96 * 96 + 2 * (96 * 4 + 96) + 2 * (96 * 16 + 96 + 38 * 96 + 96 * 6 + 96) + 96 * 96;
  EXPECT_EQ(mixer, 40512);
  const TSM2Options o = TSM2Options().n_future(1);
  EXPECT_EQ(o.input_len(), 1024);
  EXPECT_EQ(o.n_patches(), 127);
  EXPECT_EQ(nn::count_parameters(*TSM2(o)), 241742 + mixer + (96 * 512 + 512) + (127 - 63) * 32 * 96);
  EXPECT_EQ(tsm2_parameter_count(o), nn::count_parameters(*TSM2(o)));
  // Static features: a C_S -> L map, and one more block of L steps.
  const TSM2Options both = TSM2Options().n_future(1).n_static(3);
  EXPECT_EQ(both.input_len(), 1536);
  EXPECT_EQ(nn::count_parameters(*TSM2(both)),
            nn::count_parameters(*TSM2(o)) + (3 * 512 + 512) + (191 - 127) * 32 * 96);
}

TEST(TSM2Aux, InputsAreCheckedAndNamed) {
  TSM2 plain(small());
  TSM2 aux(small().n_future(2).n_static(4));
  const auto x = torch::randn({2, 64, 3}), z = torch::randn({2, 8, 2}), s = torch::randn({2, 3, 4});
  EXPECT_EQ(aux(x, z, s).sizes(), (std::vector<int64_t>{2, 8, 3}));
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const c10::Error& e) {
      return std::string(e.what_without_backtrace());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] { aux(x); }).find("z (future covariates) must be of shape (B, pred_len, n_future) = (2, 8, 2)"),
            std::string::npos);
  EXPECT_NE(message([&] { aux(x, torch::randn({2, 7, 2}), s); }).find("got [2, 7, 2]"), std::string::npos);
  EXPECT_NE(message([&] {
              aux(x, z, torch::randn({2, 3, 5}));
            }).find("(B, n_vars, n_static) = (2, 3, 4)"),
            std::string::npos);
  EXPECT_NE(message([&] { plain(x, z); }).find("absent for a model without future covariates"), std::string::npos);
  EXPECT_NE(message([&] { plain(x, torch::Tensor(), s); }).find("absent for a model without static features"),
            std::string::npos);
}

TEST(TSM2Aux, TheForecastReadsEveryCovariateAndStaticFeatureAndTrains) {
  torch::manual_seed(8);
  TSM2 model(small().n_future(2).n_static(4).revin_affine(true));
  model->eval();
  const auto x = torch::randn({2, 64, 3}), z = torch::randn({2, 8, 2}), s = torch::randn({2, 3, 4});
  const auto y = model(x, z, s);
  for (int64_t c = 0; c < 2; ++c) {  // each future covariate changes the forecast of every variate
    auto z2 = z.clone();
    z2.select(2, c).add_(1.0);
    const auto dy = (model(x, z2, s) - y).abs().amax({0, 1});
    for (int64_t m = 0; m < 3; ++m) EXPECT_GT(dy[m].item<double>(), 1e-6) << "covariate " << c << " variate " << m;
  }
  auto s2 = s.clone();  // a static feature of variate 1 changes that variate's forecast
  s2.select(1, 1).add_(1.0);
  EXPECT_GT((model(x, z, s2) - y).select(2, 1).abs().max().item<double>(), 1e-6);
  model->train();
  torch::mse_loss(model(x, z, s), torch::zeros({2, 8, 3})).backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().max().item<double>(), 0.0) << p.key();
  }
  EXPECT_NE(model->summary().find("n_future=2 n_static=4"), std::string::npos);
  EXPECT_NE(model->summary().find("future_mixer"), std::string::npos);
}

}  // namespace
}  // namespace mmx::models
