// Split borders, window counts, scaler, window contents and batching on small synthetic tables.
#include <gtest/gtest.h>

#include <set>

#include "data_test_util.h"
#include "mmx/data/timeseries/forecast_data.h"

namespace mmx::data {
namespace {

using mmx::data::testing::expect_data_error;

TEST(Splits, EttHourBordersFollowTslib) {
  const auto s = split_ranges(SplitKind::kEttHour, 17420, 512);
  EXPECT_EQ(s.train, (RowRange{0, 8640}));
  EXPECT_EQ(s.val, (RowRange{8128, 11520}));
  EXPECT_EQ(s.test, (RowRange{11008, 14400}));
  EXPECT_EQ(window_count(s.train, 512, 96), 8033);
  EXPECT_EQ(window_count(s.val, 512, 96), 2785);
  EXPECT_EQ(window_count(s.test, 512, 96), 2785);
  // TSLib's look-back-96 counts (they follow from data_loader.py's Dataset_ETT_hour borders): test
  // windows 2785/2689/2545/2161.
  const auto s96 = split_ranges(SplitKind::kEttHour, 17420, 96);
  EXPECT_EQ(window_count(s96.test, 96, 96), 2785);
  EXPECT_EQ(window_count(s96.test, 96, 192), 2689);
  EXPECT_EQ(window_count(s96.test, 96, 336), 2545);
  EXPECT_EQ(window_count(s96.test, 96, 720), 2161);
  EXPECT_EQ(window_count(s96.train, 96, 96), 8449);
}

TEST(Splits, EttMinuteIsFourTimesTheRows) {
  const auto s = split_ranges(SplitKind::kEttMinute, 69680, 512);
  EXPECT_EQ(s.train, (RowRange{0, 34560}));
  EXPECT_EQ(s.val, (RowRange{34048, 46080}));
  EXPECT_EQ(s.test, (RowRange{45568, 57600}));
  EXPECT_EQ(window_count(s.train, 512, 96), 33953);
  EXPECT_EQ(window_count(s.val, 512, 96), 11425);
  EXPECT_EQ(window_count(s.test, 512, 720), 10801);
}

TEST(Splits, RatioSplitsOfTheCustomSets) {
  // n_train / n_val / n_test of TSLib's Dataset_Custom (int(0.7 n), n - train - test, int(0.2 n)): Weather
  // 36887/5270/10539, ECL 18412/2632/5260, Traffic 12280/1756/3508, Exchange 5311/760/1517, ILI 676/97/193.
  struct Case {
    int64_t n, n_train, n_val, n_test;
  };
  for (const Case c : {Case{52696, 36887, 5270, 10539}, Case{26304, 18412, 2632, 5260}, Case{17544, 12280, 1756, 3508},
                       Case{7588, 5311, 760, 1517}, Case{966, 676, 97, 193}}) {
    const auto s = split_ranges(SplitKind::kRatio, c.n, 36);
    EXPECT_EQ(s.train, (RowRange{0, c.n_train})) << c.n;
    EXPECT_EQ(s.val, (RowRange{c.n_train - 36, c.n_train + c.n_val})) << c.n;
    EXPECT_EQ(s.test, (RowRange{c.n - c.n_test - 36, c.n})) << c.n;
  }
  const auto w = split_ranges(SplitKind::kRatio, 52696, 512);
  EXPECT_EQ(window_count(w.train, 512, 96), 36280);
  EXPECT_EQ(window_count(w.val, 512, 96), 5175);
  EXPECT_EQ(window_count(w.test, 512, 96), 10444);
  const auto e = split_ranges(SplitKind::kRatio, 7588, 512);
  EXPECT_EQ(window_count(e.train, 512, 96), 4704);
  EXPECT_EQ(window_count(e.val, 512, 96), 665);
  EXPECT_EQ(window_count(e.test, 512, 96), 1422);
  EXPECT_EQ(window_count(RowRange{0, 10}, 8, 8), 0);
}

TEST(Splits, Errors) {
  expect_data_error([] { split_ranges(SplitKind::kEttHour, 14399, 96); }, "", 0, "",
                    {"table has 14399 rows; expected at least 14400"});
  expect_data_error([] { split_ranges(SplitKind::kEttMinute, 57599, 96); }, "", 0, "", {"expected at least 57600"});
  expect_data_error([] { split_ranges(SplitKind::kRatio, 100, 71); }, "", 0, "",
                    {"seq_len 71 is longer than the training split (70 rows", "expected seq_len <= 70"});
  expect_data_error([] { split_ranges(SplitKind::kRatio, 100, 0); }, "", 0, "", {"expected >= 1"});
}

// A table whose value at (row r, variate m) is 1000 m + r, so every window's content is known.
TimeSeriesTable ramp_table(int64_t n_rows, int64_t n_vars) {
  TimeSeriesTable t;
  for (int64_t m = 0; m < n_vars; ++m) t.columns.push_back("v" + std::to_string(m));
  for (int64_t r = 0; r < n_rows; ++r) t.timestamps.push_back(r * 3600);
  t.values = torch::arange(n_rows, torch::kFloat64).unsqueeze(1) +
             1000.0 * torch::arange(n_vars, torch::kFloat64).unsqueeze(0);
  return t;
}

TEST(Scaler, PopulationStatisticsAndConstantColumn) {
  const auto v = torch::tensor({1.0, 5.0, 2.0, 5.0, 3.0, 5.0, 6.0, 5.0}, torch::kFloat64).view({4, 2});
  const auto s = StandardScaler::fit(v);
  EXPECT_DOUBLE_EQ(s.mean[0].item<double>(), 3.0);
  EXPECT_DOUBLE_EQ(s.std[0].item<double>(), std::sqrt(3.5));  // ddof 0: (4+1+0+9)/4
  EXPECT_DOUBLE_EQ(s.mean[1].item<double>(), 5.0);
  EXPECT_EQ(s.std[1].item<double>(), 1.0);  // constant -> std 1
  const auto z = s.transform(v);
  EXPECT_DOUBLE_EQ(z[3][0].item<double>(), 3.0 / std::sqrt(3.5));
  EXPECT_EQ(z[2][1].item<double>(), 0.0);
  EXPECT_TRUE(torch::allclose(s.inverse_transform(z), v, 0, 1e-12));
  const auto z32 = s.transform(v.to(torch::kFloat32).view({2, 2, 2}));
  EXPECT_EQ(z32.scalar_type(), torch::kFloat32);
  EXPECT_EQ(z32.sizes(), (std::vector<int64_t>{2, 2, 2}));
  expect_data_error([&] { s.transform(torch::zeros({3, 3})); }, "", 0, "", {"expected (..., 2)"});
  expect_data_error([] { StandardScaler::fit(torch::zeros({0, 3})); }, "", 0, "", {"expected (rows >= 1, n_vars)"});
}

TEST(Windows, ContentsFollowTheRowsOfTheSplit) {
  const auto d = prepare_forecast_data(ramp_table(100, 3), SplitKind::kRatio, 8, 4);
  // n_train 70, n_test 20, n_val 10; val starts 8 rows before row 70, test 8 before row 80.
  EXPECT_EQ(d.splits.val, (RowRange{62, 80}));
  EXPECT_EQ(d.splits.test, (RowRange{72, 100}));
  // Scaler on rows [0, 70) only: mean 34.5 + 1000 m, population std sqrt((70^2 - 1) / 12).
  const double sd = std::sqrt((70.0 * 70.0 - 1.0) / 12.0);
  for (int m = 0; m < 3; ++m) {
    EXPECT_DOUBLE_EQ(d.scaler.mean[m].item<double>(), 34.5 + 1000.0 * m);
    EXPECT_NEAR(d.scaler.std[m].item<double>(), sd, 1e-12);
  }
  const auto test = d.test();
  EXPECT_EQ(test.size(), 28 - 12 + 1);
  const auto b = test.batch({0, 16, 3});
  EXPECT_EQ(b.x.sizes(), (std::vector<int64_t>{3, 8, 3}));
  EXPECT_EQ(b.y.sizes(), (std::vector<int64_t>{3, 4, 3}));
  EXPECT_EQ(b.x.scalar_type(), torch::kFloat32);
  const auto orig_x = d.scaler.inverse_transform(b.x.to(torch::kFloat64));
  const auto orig_y = d.scaler.inverse_transform(b.y.to(torch::kFloat64));
  // Window 0 of test: inputs rows 72..79, first target row 80 (the border); window 16: target rows 96..99.
  EXPECT_NEAR(orig_x[0][0][0].item<double>(), 72.0, 1e-4);
  EXPECT_NEAR(orig_x[0][7][2].item<double>(), 2079.0, 1e-3);
  EXPECT_NEAR(orig_y[0][0][1].item<double>(), 1080.0, 1e-3);
  EXPECT_NEAR(orig_y[1][3][0].item<double>(), 99.0, 1e-4);
  EXPECT_NEAR(orig_x[2][0][0].item<double>(), 75.0, 1e-4);
  EXPECT_EQ(test.window_row(16) + test.seq_len() + test.pred_len(), 100);
  expect_data_error([&] { test.batch({17}); }, "", 0, "", {"window index 17 out of range", "< 17"});
  expect_data_error([&] { test.batch({}); }, "", 0, "", {"empty index list"});
}

TEST(Windows, EveryWindowOnceWithThePartialLastBatch) {
  const auto d = prepare_forecast_data(ramp_table(100, 2), SplitKind::kRatio, 8, 4);
  const auto train = d.train();
  ASSERT_EQ(train.size(), 70 - 12 + 1);  // 59 = 7 * 8 + 3
  std::vector<int64_t> seen;
  std::vector<int64_t> sizes;
  const int64_t n = for_each_batch(train, 8, [&](const WindowBatch& b) {
    sizes.push_back(b.x.size(0));
    seen.insert(seen.end(), b.indices.begin(), b.indices.end());
    // first input row of each window, in original units
    const auto first = d.scaler.inverse_transform(b.x.select(1, 0).to(torch::kFloat64));
    for (int64_t i = 0; i < b.x.size(0); ++i) {
      EXPECT_NEAR(first[i][0].item<double>(), static_cast<double>(b.indices[i]), 1e-4);
    }
  });
  EXPECT_EQ(n, 59);
  EXPECT_EQ(sizes, (std::vector<int64_t>{8, 8, 8, 8, 8, 8, 8, 3}));
  std::vector<int64_t> all(59);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(seen, all);

  const auto shuffled = batch_indices(59, 8, true, 7);
  ASSERT_EQ(shuffled.size(), 8u);
  EXPECT_EQ(shuffled.back().size(), 3u);
  std::set<int64_t> unique;
  for (const auto& b : shuffled) unique.insert(b.begin(), b.end());
  EXPECT_EQ(unique.size(), 59u);
  EXPECT_EQ(batch_indices(59, 8, true, 7), shuffled);  // fixed seed, same order
  EXPECT_NE(batch_indices(59, 8, true, 8), shuffled);
  EXPECT_TRUE(batch_indices(0, 8).empty());
  expect_data_error([] { batch_indices(5, 0); }, "", 0, "", {"expected n >= 0 and batch_size >= 1"});
}

TEST(Windows, ShortSplitIsAnError) {
  expect_data_error([] { prepare_forecast_data(ramp_table(100, 2), SplitKind::kRatio, 8, 12); }, "", 0, "",
                    {"val split rows [62, 80) of 100 hold no window", "expected at least seq_len + pred_len = 20"});
  expect_data_error(
      [] {
        WindowDataset(torch::zeros({10, 2}), RowRange{0, 10}, 8, 0);
      },
      "", 0, "", {"expected both >= 1"});
  expect_data_error(
      [] {
        WindowDataset(torch::zeros({10, 2}), RowRange{0, 11}, 2, 2);
      },
      "", 0, "", {"outside the series of 10 rows"});
}

}  // namespace
}  // namespace mmx::data
