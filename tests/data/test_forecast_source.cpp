// Own CSV files: the date column by name, column selection and text columns left out, TSLib's
// feature modes, splits by ratio and by date, the step inferred (calendar months included), and
// the errors a user's file can trigger (repeated names, unsorted timestamps, a constant or
// extreme column). Also the scaler on values near the float64 limits.
#include <gtest/gtest.h>

#include <fstream>

#include "data_test_util.h"
#include "mmx/data/timeseries/csv_reader.h"
#include "mmx/data/timeseries/forecast_source.h"
#include "mmx/data/timeseries/splits.h"
#include "mmx/data/timeseries/timestamps.h"

namespace mmx::data {
namespace {

using testing::expect_data_error;
using testing::TempDir;

std::string write(const TempDir& d, const std::string& name, const std::string& text) {
  const std::string path = (d.path / name).string();
  std::ofstream(path) << text;
  return path;
}

// n daily rows from 2020-01-01: id (text), a = i, b = i % 7, c = 2 i + 1; date column last.
std::string daily_csv(int n) {
  std::string s = "id,a,b,c,Day\n";
  for (int i = 0; i < n; ++i) {
    const auto day =
        format_timestamp(parse_timestamp("2020-01-01") + i * 86400LL, TimestampFormat{'-', ' ', false, false, true});
    s += "shop" + std::to_string(i % 3) + "," + std::to_string(i) + "," + std::to_string(i % 7) + "," +
         std::to_string(2 * i + 1) + "," + day + "\n";
  }
  return s;
}

TEST(OwnCsv, DateColumnByNameTextColumnsLeftOutRatioSplit) {
  TempDir d;
  ForecastSource src;
  src.path = write(d, "shop.csv", daily_csv(200));
  LoadedSeries s = load_forecast_source(src, 10, 5);
  const auto& t = s.data.table;
  EXPECT_EQ(t.date_column, "Day");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(t.skipped_columns, (std::vector<std::string>{"id"}));
  EXPECT_EQ(s.freq, (Frequency{86400, 0}));
  EXPECT_TRUE(s.freq_inferred);
  // TSLib custom split of 200 rows: int(140) train, int(40) test, 20 val.
  EXPECT_EQ(s.data.splits.train, (RowRange{0, 140}));
  EXPECT_EQ(s.data.splits.val, (RowRange{130, 160}));
  EXPECT_EQ(s.data.splits.test, (RowRange{150, 200}));
  EXPECT_EQ(s.data.test().size(), 50 - 15 + 1);
  // Scaler of column a on rows 0..139: mean 69.5, population sd sqrt((140^2 - 1) / 12).
  EXPECT_DOUBLE_EQ(s.data.scaler.mean[0].item<double>(), 69.5);
  EXPECT_NEAR(s.data.scaler.std[0].item<double>(), std::sqrt((140.0 * 140.0 - 1.0) / 12.0), 1e-12);
  EXPECT_NE(s.description.find("text columns left out: 'id'"), std::string::npos) << s.description;
}

TEST(OwnCsv, FeatureModesSplitByDatesAndChosenColumns) {
  TempDir d;
  ForecastSource src;
  src.path = write(d, "shop.csv", daily_csv(200));
  src.features = FeatureMode::kMultiSingle;
  src.target = "a";
  LoadedSeries ms = load_forecast_source(src, 10, 5);
  EXPECT_EQ(ms.data.table.columns, (std::vector<std::string>{"b", "c", "a"}));  // target last (TSLib)
  EXPECT_EQ(ms.target_index, 2);
  EXPECT_DOUBLE_EQ(ms.data.table.values[7][2].item<double>(), 7.0);
  src.features = FeatureMode::kSingle;
  LoadedSeries single = load_forecast_source(src, 10, 5);
  EXPECT_EQ(single.data.table.columns, (std::vector<std::string>{"a"}));
  EXPECT_EQ(single.target_index, 0);
  src.features = FeatureMode::kMulti;
  src.csv.columns = {"c", "b"};
  src.val_start = "2020-05-01";   // row 121
  src.test_start = "2020-06-10";  // row 161
  LoadedSeries by_date = load_forecast_source(src, 10, 5);
  EXPECT_EQ(by_date.data.table.columns, (std::vector<std::string>{"c", "b"}));
  EXPECT_EQ(by_date.data.splits.train, (RowRange{0, 121}));
  EXPECT_EQ(by_date.data.splits.test, (RowRange{151, 200}));
  src.target = "zz";
  src.features = FeatureMode::kSingle;
  src.val_start = src.test_start = "";
  src.csv.columns = {};
  expect_data_error([&] { load_forecast_source(src, 10, 5); }, src.path, 0, "zz", {"no such column", "'a', 'b', 'c'"});
}

TEST(OwnCsv, ErrorsNameTheFileLineAndColumn) {
  TempDir d;
  // Excel's Windows-1252 degree sign becomes UTF-8 (C2 B0); valid UTF-8 (weather.csv's U+FFFD) stays.
  EXPECT_EQ(parse_csv("date,Temp (\xB0"
                      "C),\xE2\x82\xAC\n2020-01-01,1,2\n",
                      "w.csv")
                .columns,
            (std::vector<std::string>{"Temp (\xC2\xB0"
                                      "C)",
                                      "\xE2\x82\xAC"}));
  EXPECT_EQ(parse_csv("date,\x80x\n2020-01-01,1\n", "euro.csv").columns, (std::vector<std::string>{"\xE2\x82\xAC"
                                                                                                   "x"}));
  const std::string dup = write(d, "dup.csv", "date,x,x\n2020-01-01,1,2\n");
  expect_data_error([&] { read_csv(dup); }, dup, 1, "x", {"appears twice (columns 2 and 3)"});
  ForecastSource src;
  src.path = write(d, "desc.csv", "date,x\n2020-01-02,1\n2020-01-01,2\n");
  expect_data_error([&] { load_forecast_source(src, 1, 1); }, src.path, 3, "date",
                    {"is before the previous row's (line 2)", "strictly increasing"});
  src.path = write(d, "rep.csv", "date,x\n2020-01-01,1\n2020-01-01,2\n");
  expect_data_error([&] { load_forecast_source(src, 1, 1); }, src.path, 3, "date", {"the same as the previous row's"});
  src.path = write(d, "text.csv", "date,name\n2020-01-01,abc\n");
  expect_data_error([&] { load_forecast_source(src, 1, 1); }, src.path, 2, "", {"no column of numbers", "'name'"});
  src.path = write(d, "shop.csv", daily_csv(40));
  expect_data_error([&] { load_forecast_source(src, 30, 5); }, "", 0, "",
                    {"seq_len 30 is longer than the training split (28 rows"});
  src.csv.date_column = "when";
  expect_data_error([&] { load_forecast_source(src, 3, 2); }, src.path, 1, "when", {"no such date column", "'Day'"});
}

TEST(OwnCsv, FrequencyInferredParsedAndContinued) {
  // Month ends, month starts, quarters; a fixed step otherwise.
  std::vector<Timestamp> ends, starts, quarters;
  for (const char* s : {"2021-01-31", "2021-02-28", "2021-03-31", "2021-04-30"}) ends.push_back(parse_timestamp(s));
  for (const char* s : {"2021-01-01", "2021-02-01", "2021-03-01", "2021-05-01"}) starts.push_back(parse_timestamp(s));
  for (const char* s : {"2021-01-15", "2021-04-15", "2021-07-15"}) quarters.push_back(parse_timestamp(s));
  EXPECT_EQ(infer_frequency(ends), (Frequency{0, 1}));
  EXPECT_EQ(infer_frequency(starts), (Frequency{0, 1}));  // one gap of two months: the median is 1
  EXPECT_EQ(infer_frequency(quarters), (Frequency{0, 3}));
  EXPECT_EQ(to_string(infer_frequency(quarters)), "1q");
  EXPECT_EQ(next_timestamps("2021-04-30", Frequency{0, 1}, 3),
            (std::vector<std::string>{"2021-05-31", "2021-06-30", "2021-07-31"}));
  EXPECT_EQ(next_timestamps("2021-01-15 06:00", Frequency{0, 1}, 2),
            (std::vector<std::string>{"2021-02-15 06:00", "2021-03-15 06:00"}));
  EXPECT_EQ(next_timestamps("2020-11-30", Frequency{0, 3}, 1), (std::vector<std::string>{"2021-02-28"}));
  EXPECT_EQ(parse_frequency("15min"), (Frequency{900, 0}));
  EXPECT_EQ(parse_frequency("h"), (Frequency{3600, 0}));
  EXPECT_EQ(parse_frequency("1y"), (Frequency{0, 12}));
  EXPECT_EQ(to_string(Frequency{7 * 86400, 0}), "1w");
  EXPECT_EQ(to_string(Frequency{90, 0}), "90s");
  expect_data_error([] { parse_frequency("2 fortnights"); }, "", 0, "",
                    {"as a frequency", "s, min, h, d, w, mo, q or y"});
  expect_data_error([] { parse_frequency("0h"); }, "", 0, "", {"positive count"});
}

TEST(OwnCsv, ScalerSurvivesExtremeMagnitudesAndNamesABadColumn) {
  // Values near 1e300 would overflow the squares; near 1e-300 they would underflow to a zero
  // deviation. The scaled two-pass gives the exact mean and deviation of {1, 2, 3} x 10^k.
  for (double k : {1e300, 1e-300, 1.0}) {
    const auto v = torch::tensor({1.0 * k, 2.0 * k, 3.0 * k}, torch::kFloat64).unsqueeze(1);
    const StandardScaler s = StandardScaler::fit(v);
    EXPECT_DOUBLE_EQ(s.mean[0].item<double>() / k, 2.0) << k;
    EXPECT_NEAR(s.std[0].item<double>() / k, std::sqrt(2.0 / 3.0), 1e-15) << k;
    EXPECT_TRUE(s.transform(v).isfinite().all().item<bool>()) << k;
  }
  TempDir d;
  ForecastSource src;
  std::string text = "date,ok,wild\n";
  for (int i = 0; i < 30; ++i)
    text += format_timestamp(parse_timestamp("2020-01-01") + i * 3600LL) + "," + std::to_string(i) + "," +
            (i == 27 ? "1e300" : std::to_string(i % 2)) + "\n";
  src.path = write(d, "wild.csv", text);
  // Row 27 (line 29) lies 1e300 deviations from the training mean: no float32 holds it.
  expect_data_error([&] { load_forecast_source(src, 4, 2); }, src.path, 29, "wild",
                    {"too far from the training rows' mean"});
}

}  // namespace
}  // namespace mmx::data
