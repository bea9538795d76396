// The real benchmark files: the embedded data/ETTh1.csv (always present) and the data root
// (mmx::default_data_root(); those tests skip when it or the file is absent).
#include <gtest/gtest.h>

#include <filesystem>

#include "data_test_util.h"
#include "mmx/data/timeseries/csv_reader.h"
#include "mmx/data/timeseries/forecast_data.h"
#include "mmx/data/timeseries/registry.h"
#include "mmx/data/timeseries/splits.h"

namespace mmx::data {
namespace {

using mmx::data::testing::expect_data_error;

const std::string kNoRoot = "/nonexistent/mmx-data-root";

double at(const TimeSeriesTable& t, int64_t r, int64_t c) { return t.values[r][c].item<double>(); }

TEST(Registry, NamesPathsAndSplitKinds) {
  std::vector<std::string> names;
  for (const auto& d : dataset_registry()) names.push_back(d.name);
  EXPECT_EQ(names, (std::vector<std::string>{"ETTh1", "ETTh2", "ETTm1", "ETTm2", "Weather", "Exchange", "ILI",
                                             "Electricity", "Traffic"}));
  EXPECT_EQ(find_dataset("etth1").relative_path, "ETT-small/ETTh1.csv");
  EXPECT_EQ(find_dataset("ETTm2").split, SplitKind::kEttMinute);
  EXPECT_EQ(find_dataset("ETTm2").step_seconds, 900);
  EXPECT_EQ(find_dataset("Weather").relative_path, "weather/weather.csv");
  EXPECT_EQ(find_dataset("Weather").freq, "10min");
  EXPECT_EQ(find_dataset("exchange").relative_path, "exchange_rate/exchange_rate.csv");
  EXPECT_EQ(find_dataset("ILI").relative_path, "illness/national_illness.csv");
  EXPECT_EQ(find_dataset("ILI").step_seconds, 7 * 86400);
  EXPECT_EQ(find_dataset("Electricity").relative_path, "electricity/electricity.csv");
  EXPECT_EQ(find_dataset("Electricity").n_vars, 321);
  EXPECT_EQ(find_dataset("Traffic").relative_path, "traffic/traffic.csv");
  EXPECT_EQ(find_dataset("Traffic").n_vars, 862);
  EXPECT_EQ(find_dataset("Traffic").split, SplitKind::kRatio);
}

TEST(Registry, UnknownNameSuggestsTheClosest) {
  expect_data_error([] { find_dataset("ETTh3"); }, "", 0, "",
                    {"unknown data set 'ETTh3'; did you mean 'ETTh1'?", "valid: ETTh1, ETTh2"});
  expect_data_error([] { find_dataset("wether"); }, "", 0, "", {"did you mean 'Weather'?"});
  expect_data_error([] { find_dataset("electricty"); }, "", 0, "", {"did you mean 'Electricity'?"});
  expect_data_error([] { find_dataset("traffik"); }, "", 0, "", {"did you mean 'Traffic'?"});
}

TEST(Registry, Etth1FallsBackToTheEmbeddedCopy) {
  const std::string embedded = embedded_data_dir() + "/ETTh1.csv";
  EXPECT_EQ(dataset_path(find_dataset("ETTh1"), kNoRoot), embedded);
  EXPECT_EQ(std::filesystem::file_size(embedded), 2589657u);  // unmodified original
  expect_data_error([] { dataset_path(find_dataset("ETTh2"), kNoRoot); }, kNoRoot + "/ETT-small/ETTh2.csv", 0, "",
                    {"data set 'ETTh2' not found", "$MMX_DATA_ROOT"});
}

TEST(EmbeddedEtth1, RowsColumnsFirstAndLastRow) {
  const auto t = read_csv(dataset_path(find_dataset("ETTh1"), kNoRoot));
  ASSERT_EQ(t.n_rows(), 17420);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"}));
  EXPECT_EQ(t.date_string(0), "2016-07-01 00:00:00");
  EXPECT_EQ(t.date_string(17419), "2018-06-26 19:00:00");
  EXPECT_EQ(at(t, 0, 0), 5.827000141143799);
  EXPECT_EQ(at(t, 0, 4), 4.203000068664552);
  EXPECT_EQ(at(t, 0, 6), 30.5310001373291);
  EXPECT_EQ(at(t, 17419, 0), 10.11400032043457);
  EXPECT_EQ(at(t, 17419, 1), 3.5499999523162837);
  EXPECT_EQ(at(t, 17419, 6), 9.56700038909912);
  EXPECT_EQ(infer_step_seconds(t.timestamps), 3600);
  EXPECT_EQ(t.timestamps.back() - t.timestamps.front(), 17419 * 3600);  // no gaps, no duplicates
  EXPECT_EQ(next_timestamps(t.date_string(17419), 3600, 1), (std::vector<std::string>{"2018-06-26 20:00:00"}));
}

TEST(EmbeddedEtth1, ForecastProtocolAt512And96) {
  const auto d = load_forecast_data("ETTh1", 512, 96, kNoRoot);
  EXPECT_EQ(d.splits.train, (RowRange{0, 8640}));
  EXPECT_EQ(d.splits.val, (RowRange{8128, 11520}));
  EXPECT_EQ(d.splits.test, (RowRange{11008, 14400}));
  EXPECT_EQ(d.train().size(), 8033);
  EXPECT_EQ(d.val().size(), 2785);
  EXPECT_EQ(d.test().size(), 2785);

  // Scaler fitted on the 8640 training rows only: equal to a direct float64 computation over them,
  // and to an independent computation (Python, sequential sums) of the same statistics.
  const auto v = d.table.values;
  const auto a = v.accessor<double, 2>();
  for (int64_t m = 0; m < 7; ++m) {
    double sum = 0;
    for (int64_t r = 0; r < 8640; ++r) sum += a[r][m];
    const double mean = sum / 8640;
    double ss = 0;
    for (int64_t r = 0; r < 8640; ++r) ss += (a[r][m] - mean) * (a[r][m] - mean);
    EXPECT_NEAR(d.scaler.mean[m].item<double>(), mean, 1e-11) << m;
    EXPECT_NEAR(d.scaler.std[m].item<double>(), std::sqrt(ss / 8640), 1e-11) << m;
  }
  EXPECT_NEAR(d.scaler.mean[0].item<double>(), 7.937742245659508, 1e-11);
  EXPECT_NEAR(d.scaler.std[0].item<double>(), 5.81274940914376, 1e-11);
  EXPECT_NEAR(d.scaler.mean[6].item<double>(), 17.1282616982271, 1e-11);
  EXPECT_NEAR(d.scaler.std[6].item<double>(), 9.176491024944383, 1e-11);
  // Fitting on all rows would give a different OT mean (the series drifts): the train-only fit matters.
  EXPECT_GT(std::abs(v.select(1, 6).mean().item<double>() - 17.1282616982271), 0.5);
  // Standardised train rows have mean 0 and population std 1.
  const auto z = d.scaled.narrow(0, 0, 8640).to(torch::kFloat64);
  EXPECT_LT(z.mean(0).abs().max().item<double>(), 1e-6);
  EXPECT_LT((z.std(0, false) - 1).abs().max().item<double>(), 1e-6);

  // Every test window, in order, batch 32: 87 full batches and a last batch of 1 (never dropped).
  const auto test = d.test();
  int64_t batches = 0, last_size = 0, next_index = 0;
  torch::Tensor last_y;
  const int64_t n = for_each_batch(test, 32, [&](const WindowBatch& b) {
    ++batches;
    last_size = b.x.size(0);
    for (int64_t i : b.indices) EXPECT_EQ(i, next_index++);
    last_y = b.y;
  });
  EXPECT_EQ(n, 2785);
  EXPECT_EQ(batches, 88);
  EXPECT_EQ(last_size, 1);
  // The last window's last target is row 14399, the end of the test split; the first window's
  // first target is row 11520, the test border.
  EXPECT_TRUE(torch::equal(last_y[0][95], d.scaled[14399]));
  EXPECT_TRUE(torch::equal(test.batch({0}).y[0][0], d.scaled[11520]));
  const auto back = d.scaler.inverse_transform(last_y[0][95].to(torch::kFloat64));
  EXPECT_NEAR(back[6].item<double>(), v[14399][6].item<double>(), 1e-5);
}

TEST(DataRoot, Etth1MatchesTheEmbeddedCopy) {
  MMX_REQUIRE_DATA_FILE("ETT-small/ETTh1.csv");
  const auto root = read_csv(dataset_path(find_dataset("ETTh1")));
  const auto embedded = read_csv(embedded_data_dir() + "/ETTh1.csv");
  EXPECT_EQ(root.timestamps, embedded.timestamps);
  EXPECT_TRUE(torch::equal(root.values, embedded.values));
}

TEST(DataRoot, Ettm1RowsAndWindows) {
  MMX_REQUIRE_DATA_FILE("ETT-small/ETTm1.csv");
  const auto d = load_forecast_data("ETTm1", 512, 96, default_data_root());
  EXPECT_EQ(d.table.n_rows(), 69680);
  EXPECT_EQ(d.table.date_string(69679), "2018-06-26 19:45:00");
  EXPECT_EQ(infer_step_seconds(d.table.timestamps), 900);
  EXPECT_EQ(d.train().size(), 33953);
  EXPECT_EQ(d.val().size(), 11425);
  EXPECT_EQ(d.test().size(), 11425);
}

TEST(DataRoot, WeatherCrlfReplacementCharsAndDuplicate) {
  MMX_REQUIRE_DATA_FILE("weather/weather.csv");
  const auto d = load_forecast_data("Weather", 512, 96, default_data_root());
  const auto& t = d.table;
  ASSERT_EQ(t.n_rows(), 52696);
  ASSERT_EQ(t.n_vars(), 21);
  EXPECT_EQ(t.columns[0], "p (mbar)");
  EXPECT_EQ(t.columns[16], "SWDR (W/m\xEF\xBF\xBD)");
  EXPECT_EQ(t.columns[17], "PAR (\xEF\xBF\xBDmol/m\xEF\xBF\xBD/s)");
  EXPECT_EQ(t.columns[20], "OT");
  EXPECT_EQ(t.date_string(0), "2020-01-01 00:10:00");
  EXPECT_EQ(t.date_string(52695), "2021-01-01 00:00:00");
  EXPECT_EQ(at(t, 0, 0), 1008.89);
  EXPECT_EQ(at(t, 0, 20), 428.1);
  EXPECT_EQ(at(t, 52695, 20), 436.5);
  EXPECT_EQ(t.date_string(19043), "2020-05-12 06:00:00");  // data rows 19,044 and 19,045 (1-based)
  EXPECT_EQ(t.timestamps[19043], t.timestamps[19044]);
  EXPECT_EQ(infer_step_seconds(t.timestamps), 600);
  EXPECT_EQ(d.splits.test, (RowRange{52696 - 10539 - 512, 52696}));
  EXPECT_EQ(d.train().size(), 36280);
  EXPECT_EQ(d.val().size(), 5175);
  EXPECT_EQ(d.test().size(), 10444);
}

TEST(DataRoot, ExchangeUnpaddedDatesNoFinalNewline) {
  MMX_REQUIRE_DATA_FILE("exchange_rate/exchange_rate.csv");
  const auto d = load_forecast_data("Exchange", 512, 96, default_data_root());
  const auto& t = d.table;
  ASSERT_EQ(t.n_rows(), 7588);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "OT"}));
  EXPECT_EQ(t.date_string(0), "1990/1/1 0:00");
  EXPECT_EQ(t.date_string(7587), "2010/10/10 0:00");
  EXPECT_EQ(at(t, 0, 0), 0.7855);
  EXPECT_EQ(at(t, 7587, 7), 0.692689);  // the last cell, no newline after it
  EXPECT_EQ(infer_step_seconds(t.timestamps), 86400);
  EXPECT_EQ(next_timestamps(t.date_string(7587), 86400, 2),
            (std::vector<std::string>{"2010/10/11 0:00", "2010/10/12 0:00"}));
  EXPECT_EQ(d.train().size(), 4704);
  EXPECT_EQ(d.val().size(), 665);
  EXPECT_EQ(d.test().size(), 1422);
}

TEST(DataRoot, IliWeekly) {
  MMX_REQUIRE_DATA_FILE("illness/national_illness.csv");
  const auto d = load_forecast_data("ILI", 36, 24, default_data_root());
  EXPECT_EQ(d.table.n_rows(), 966);
  EXPECT_EQ(d.table.n_vars(), 7);
  EXPECT_EQ(d.table.columns[0], "% WEIGHTED ILI");
  EXPECT_EQ(at(d.table, 965, 6), 1509928.0);
  EXPECT_EQ(infer_step_seconds(d.table.timestamps), 7 * 86400);
  EXPECT_EQ(d.train().size(), 676 - 60 + 1);
  EXPECT_EQ(d.val().size(), 97 + 36 - 60 + 1);
  EXPECT_EQ(d.test().size(), 193 + 36 - 60 + 1);
}

TEST(DataRoot, ElectricityAndTrafficExcerptLayouts) {
  MMX_REQUIRE_DATA_FILE("electricity/electricity_first55rows.csv");
  MMX_REQUIRE_DATA_FILE("traffic/traffic_first25rows.csv");
  const std::string root = default_data_root();
  const auto ecl = read_csv(root + "/electricity/electricity_first55rows.csv");
  EXPECT_EQ(ecl.n_rows(), 55);
  EXPECT_EQ(ecl.n_vars(), 321);
  EXPECT_EQ(ecl.n_vars(), find_dataset("Electricity").n_vars);
  EXPECT_EQ(ecl.columns.front(), "0");
  EXPECT_EQ(ecl.columns[319], "319");
  EXPECT_EQ(ecl.columns.back(), "OT");
  EXPECT_EQ(ecl.date_string(0), "2016-07-01 02:00:00");
  EXPECT_EQ(ecl.date_string(54), "2016-07-03 08:00:00");
  EXPECT_EQ(at(ecl, 0, 0), 14.0);
  EXPECT_EQ(at(ecl, 0, 320), 2162.0);
  EXPECT_EQ(at(ecl, 54, 320), 2965.0);
  EXPECT_EQ(infer_step_seconds(ecl.timestamps), 3600);

  const auto tr = read_csv(root + "/traffic/traffic_first25rows.csv");
  EXPECT_EQ(tr.n_rows(), 25);
  EXPECT_EQ(tr.n_vars(), 862);
  EXPECT_EQ(tr.n_vars(), find_dataset("Traffic").n_vars);
  EXPECT_EQ(tr.columns[860], "860");
  EXPECT_EQ(tr.columns.back(), "OT");
  EXPECT_EQ(at(tr, 0, 0), 0.0048);
  EXPECT_EQ(at(tr, 0, 861), 0.0121);
  EXPECT_EQ(at(tr, 24, 861), 0.0057);
  EXPECT_EQ(tr.date_string(24), "2016-07-02 02:00:00");

  // The registry names the full TSLib files, which this data root may lack.
  for (const char* name : {"Electricity", "Traffic"}) {
    const auto& info = find_dataset(name);
    if (!std::filesystem::exists(std::filesystem::path(root) / info.relative_path)) {
      expect_data_error([&] { dataset_path(info, root); }, root + "/" + info.relative_path, 0, "", {"not found"});
    }
  }
}

}  // namespace
}  // namespace mmx::data
