// Future covariates and calendar features (MambaMixer §5.5): the calendar encoding against hand
// values, the column order and errors of the data path, a checkpoint's round trip through
// `load_forecaster`, and the acceptance test of the issue: on a generated series whose future is
// a known covariate, TSM2 with the covariate forecasts far better than without.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "mmx/data/error.h"
#include "mmx/data/timeseries/forecast_source.h"
#include "mmx/data/timeseries/timestamps.h"
#include "mmx/train/tsm2_checkpoint.h"
#include "mmx/train/tsm2_config.h"
#include "mmx/train/tsm2_trainer.h"

namespace mmx::train {
namespace {

std::string tmp_dir(const std::string& tag) {
  char tmpl[256];
  std::snprintf(tmpl, sizeof tmpl, "/tmp/mmx-covariates-%s-XXXXXX", tag.c_str());
  return mkdtemp(tmpl);
}

TEST(Calendar, FeaturesMatchHandValues) {
  // 2016-07-01 13:45:00 was a Friday, day 183 of the leap year 2016; 2017-12-31 00:00 a Sunday.
  const std::vector<data::Timestamp> t{data::parse_timestamp("2016-07-01 13:45:00"),
                                       data::parse_timestamp("2017-12-31 00:00:00")};
  const auto f = data::calendar_features(t, {"minute", "hour", "day_of_week", "day_of_month", "day_of_year", "month"});
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{2, 6}));
  const std::vector<double> a{45.0 / 59, 13.0 / 23, 4.0 / 6, 0.0 / 30, 182.0 / 365, 6.0 / 11};
  const std::vector<double> b{0.0, 0.0, 6.0 / 6, 30.0 / 30, 364.0 / 365, 11.0 / 11};
  for (int64_t c = 0; c < 6; ++c) {
    EXPECT_DOUBLE_EQ(f[0][c].item<double>(), a[static_cast<size_t>(c)] - 0.5) << c;
    EXPECT_DOUBLE_EQ(f[1][c].item<double>(), b[static_cast<size_t>(c)] - 0.5) << c;
  }
  try {
    data::calendar_features(t, {"weekday"});
    FAIL() << "no error";
  } catch (const data::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown calendar feature 'weekday'; expected any of minute, hour"),
              std::string::npos);
  }
}

// Hourly rows: y = 2 u + small noise, where u is white noise known in advance; w is an unrelated
// random walk. The history of y says nothing about its future; u's future says almost all.
std::string write_driven_series(const std::string& dir, int64_t rows) {
  torch::manual_seed(11);
  const auto u = torch::randn({rows}, torch::kFloat64), noise = torch::randn({rows}, torch::kFloat64) * 0.05;
  const auto w = torch::randn({rows}, torch::kFloat64).cumsum(0) * 0.1;
  const auto y = 2.0 * u + noise;
  const std::string path = dir + "/driven.csv";
  std::ofstream out(path);
  out << "date,w,u,y\n";
  const data::Timestamp t0 = data::parse_timestamp("2020-01-01 00:00:00");
  for (int64_t i = 0; i < rows; ++i)
    out << data::format_timestamp(t0 + 3600 * i) << ',' << w[i].item<double>() << ',' << u[i].item<double>() << ','
        << y[i].item<double>() << '\n';
  return path;
}

TEST(FutureCovariates, ColumnsFollowTheVariatesAndErrorsNameThem) {
  const std::string dir = tmp_dir("cols");
  data::ForecastSource src;
  src.path = write_driven_series(dir, 400);
  src.future_covariates = {"u"};
  src.calendar = {"hour", "day_of_week"};
  const auto s = data::load_forecast_source(src, 24, 8);
  EXPECT_EQ(s.data.table.columns, (std::vector<std::string>{"w", "y", "u", "calendar:hour", "calendar:day_of_week"}));
  EXPECT_EQ(s.n_future, 3);
  EXPECT_EQ(s.data.n_targets(), 2);
  EXPECT_NE(s.description.find("2 variate(s), 3 future covariate(s): 'u' 'calendar:hour' 'calendar:day_of_week'"),
            std::string::npos)
      << s.description;
  // MS with the target y: w, y in; the covariate after them.
  src.features = data::FeatureMode::kMultiSingle;
  src.target = "y";
  const auto ms = data::load_forecast_source(src, 24, 8);
  EXPECT_EQ(ms.data.table.columns[static_cast<size_t>(ms.target_index)], "y");
  EXPECT_EQ(ms.target_index, 1);
  auto message = [&](data::ForecastSource bad) {
    try {
      data::load_forecast_source(bad, 24, 8);
    } catch (const data::DataError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto bad = src;
  bad.future_covariates = {"v"};
  EXPECT_NE(
      message(bad).find("data.future_covariates names 'v', which is not a numeric column (columns: 'w', 'u', 'y')"),
      std::string::npos);
  bad.future_covariates = {"y"};
  EXPECT_NE(message(bad).find("'y' is data.target and cannot also be a future covariate"), std::string::npos);
  bad = src;
  bad.features = data::FeatureMode::kMulti;
  bad.future_covariates = {"w", "u", "y"};
  EXPECT_NE(message(bad).find("every column is a future covariate"), std::string::npos);
  bad.future_covariates = {};
  bad.calendar = {"minute", "week"};
  EXPECT_NE(message(bad).find("unknown calendar feature 'week'"), std::string::npos);
}

TrainConfig driven_config(const std::string& csv, bool with_covariate) {
  return parse_config(
      "[data]\npath = \"" + csv +
          "\"\nseq_len = 48\npred_len = 8\ncolumns = [\"u\", \"y\"]\n"
          "[model]\nd_model = 16\nn_layers = 1\nd_state = 4\npatch_len = 8\nstride = 4\n"
          "dropout = 0.0\n[train]\nbatch_size = 32\nepochs = 6\npatience = 0\nlr = 3e-3\n"
          "threads = 2\nseed = 3\n",
      "driven", with_covariate ? std::vector<std::string>{"data.future_covariates=u"} : std::vector<std::string>{});
}

// The acceptance test: forecasting y, whose future is 2 u plus 2.5 % noise, with u's future
// known. Without it the best forecast is the mean (test MSE of y about 1 in standardised units, and
// u is then forecast too); with it the error must be far lower.
TEST(FutureCovariates, AKnownDriverMakesTheForecastFarBetter) {
  const std::string dir = tmp_dir("driven");
  const std::string csv = write_driven_series(dir, 1600);
  TrainConfig with = driven_config(csv, true), without = driven_config(csv, false);
  with.data.features = without.data.features = "MS";
  with.data.target = without.data.target = "y";
  const TrainResult a = train_tsm2(with, dir + "/with", false, {nullptr, false});
  const TrainResult b = train_tsm2(without, dir + "/without", false, {nullptr, false});
  EXPECT_EQ(a.test.windows, b.test.windows);
  EXPECT_GT(b.test.mse, 0.8);  // no information about the future: about the variance
  EXPECT_LT(a.test.mse, 0.25 * b.test.mse) << "with " << a.test.mse << ", without " << b.test.mse;
  // The checkpoint stores what the forecast needs: the covariate after the variates, n_future 1.
  const LoadedForecaster f = load_forecaster(dir + "/with/best.safetensors");
  EXPECT_EQ(f.columns, (std::vector<std::string>{"y", "u"}));
  EXPECT_EQ(f.model->options.n_vars(), 1);
  EXPECT_EQ(f.model->options.n_future(), 1);
  std::printf("driven series: test MSE with the covariate %.4f, without %.4f, on %lld windows\n", a.test.mse,
              b.test.mse, static_cast<long long>(a.test.windows));
}

}  // namespace
}  // namespace mmx::train
