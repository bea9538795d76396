// CSV reader and writer on the fixture files: values, quirks, every error, fill policies.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "data_test_util.h"
#include "mmx/data/timeseries/csv_reader.h"
#include "mmx/data/timeseries/csv_writer.h"

namespace mmx::data {
namespace {

using mmx::data::testing::expect_data_error;
using mmx::data::testing::fixture;

double at(const TimeSeriesTable& t, int64_t r, int64_t c) { return t.values[r][c].item<double>(); }

TEST(CsvReader, ParsesValuesAsFloat64) {
  const auto t = read_csv(fixture("basic.csv"));
  EXPECT_EQ(t.source, fixture("basic.csv"));
  EXPECT_EQ(t.date_column, "date");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"HUFL", "OT"}));
  ASSERT_EQ(t.n_rows(), 3);
  EXPECT_EQ(t.values.scalar_type(), torch::kFloat64);
  EXPECT_EQ(t.values.sizes(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(at(t, 0, 0), 5.827);
  EXPECT_EQ(at(t, 0, 1), 30.531);
  EXPECT_EQ(at(t, 1, 0), 5.693);
  EXPECT_EQ(at(t, 2, 0), -0.015);
  EXPECT_EQ(at(t, 2, 1), 27.787);
  EXPECT_EQ(t.timestamps, (std::vector<Timestamp>{1467331200, 1467334800, 1467338400}));
  EXPECT_EQ(t.date_string(2), "2016-07-01 02:00:00");
}

TEST(CsvReader, CrlfReplacementCharHeaderAndDuplicateTimestamp) {
  const auto t = read_csv(fixture("crlf_weather.csv"));
  ASSERT_EQ(t.n_vars(), 3);
  EXPECT_EQ(t.columns[0], "p (mbar)");
  EXPECT_EQ(t.columns[1], "SWDR (W/m\xEF\xBF\xBD)");  // U+FFFD kept byte for byte
  EXPECT_EQ(t.columns[2], "OT");                      // no stray '\r'
  ASSERT_EQ(t.n_rows(), 4);
  EXPECT_EQ(t.timestamps[1], t.timestamps[2]);  // duplicated timestamp kept as in weather.csv
  EXPECT_EQ(at(t, 3, 1), 1.5);
  EXPECT_EQ(at(t, 3, 2), 427.6);
  EXPECT_EQ(infer_step_seconds(t.timestamps), 600);
}

TEST(CsvReader, UnpaddedDatesWithoutFinalNewline) {
  const auto t = read_csv(fixture("unpadded_no_newline.csv"));
  EXPECT_EQ(t.columns, (std::vector<std::string>{"0", "1", "OT"}));
  ASSERT_EQ(t.n_rows(), 3);
  EXPECT_EQ(at(t, 2, 0), 0.7867);
  EXPECT_EQ(at(t, 2, 2), 0.6113);  // last cell, not followed by a newline
  EXPECT_EQ(t.timestamps[0], 631152000);
  EXPECT_EQ(t.time_format, (TimestampFormat{'/', ' ', true, false, false}));
  EXPECT_EQ(t.date_string(2), "1990/1/3 0:00");
  EXPECT_EQ(infer_step_seconds(t.timestamps), 86400);
}

TEST(CsvReader, InMemoryTextWithBomQuotesAndBlankLines) {
  const std::string text =
      "\xEF\xBB\xBF"
      "date,\"a,b\",c\n\n2016-07-01 00:00:00,\"1.5\",2\r\n\n2016-07-01 01:00:00,3,4\n";
  const auto t = parse_csv(text, "mem.csv");
  EXPECT_EQ(t.date_column, "date");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a,b", "c"}));
  ASSERT_EQ(t.n_rows(), 2);
  EXPECT_EQ(at(t, 0, 0), 1.5);
  EXPECT_EQ(at(t, 1, 1), 4.0);
  // Line numbers count blank lines: the bad row below is physical line 5.
  expect_data_error([] { parse_csv("date,a\n\n2016-07-01 00:00:00,1\n\n2016-07-01 01:00:00,x\n", "m.csv"); }, "m.csv",
                    5, "a", {"cannot parse 'x' as a number"});
}

TEST(CsvReaderErrors, MissingEmptyHeaderOnly) {
  const std::string missing = fixture("does_not_exist.csv");
  expect_data_error([&] { read_csv(missing); }, missing, 0, "", {"no such CSV file"});
  expect_data_error([] { read_csv(fixture("empty.csv")); }, fixture("empty.csv"), 0, "",
                    {"empty file", "expected a header line"});
  expect_data_error([] { read_csv(fixture("header_only.csv")); }, fixture("header_only.csv"), 1, "",
                    {"header only", "expected at least one row after the header"});
  const std::string fixtures = mmx::test::test_data_dir() + "/fixtures";
  expect_data_error([&] { read_csv(fixtures); }, fixtures, 0, "",
                    {"is a directory", "expected a CSV file (a regular file)"});
  // A FIFO without a writer would block a plain open forever; a device would be read forever.
  const std::string fifo = "/tmp/mmx_csv_fifo_" + std::to_string(::getpid());
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_data_error([&] { read_csv(fifo); }, fifo, 0, "", {"is a FIFO", "expected a CSV file (a regular file)"});
  ::unlink(fifo.c_str());
  expect_data_error([] { read_csv("/dev/zero"); }, "/dev/zero", 0, "", {"character device", "expected a CSV file"});
  expect_data_error([] { parse_csv("date\n2016-07-01,1\n", "one.csv"); }, "one.csv", 1, "",
                    {"header has 1 column(s)", "expected a date column followed by at least one variate"});
}

TEST(CsvReaderErrors, RaggedRows) {
  expect_data_error([] { read_csv(fixture("ragged_short.csv")); }, fixture("ragged_short.csv"), 3, "c",
                    {"ragged row: 3 fields", "expected 4 fields (date + 3 variates)"});
  expect_data_error([] { read_csv(fixture("ragged_long.csv")); }, fixture("ragged_long.csv"), 3, "",
                    {"ragged row: 4 fields", "last column 'b'", "expected 3 fields (date + 2 variates)"});
}

TEST(CsvReaderErrors, NonNumericBadDateAndNonFinite) {
  expect_data_error([] { read_csv(fixture("non_numeric.csv")); }, fixture("non_numeric.csv"), 3, "b",
                    {"cannot parse 'abc' as a number", "expected a decimal number (float64)"});
  expect_data_error([] { read_csv(fixture("bad_date.csv")); }, fixture("bad_date.csv"), 3, "date",
                    {"cannot parse '2016-13-01 01:00:00' as a timestamp", "expected 'YYYY-MM-DD HH:MM:SS'"});
  expect_data_error([] { parse_csv("date,a\n2016-07-01 00:00:00,inf\n", "inf.csv"); }, "inf.csv", 2, "a",
                    {"non-finite value 'inf'", "expected a finite decimal number"});
  expect_data_error([] { parse_csv("date,a\n2016-07-01 00:00:00,1e999\n", "big.csv"); }, "big.csv", 2, "a",
                    {"non-finite value '1e999'"});
  expect_data_error([] { parse_csv("date,a\n2016-07-01 00:00:00,1\n2016/07/01 01:00,2\n", "mix.csv"); }, "mix.csv", 3,
                    "date", {"changes layout", "expected the layout of '2016-07-01 00:00:00'"});
  expect_data_error([] { parse_csv("date,a\n2016-07-01 00:00:00,\"1\n", "q.csv"); }, "q.csv", 2, "",
                    {"unterminated quoted field", "expected a closing double quote"});
}

TEST(CsvReaderMissing, ErrorByDefault) {
  expect_data_error([] { read_csv(fixture("empty_cell.csv")); }, fixture("empty_cell.csv"), 3, "a",
                    {"empty cell", "expected a number", "data.fill = \"ffill\" or \"zero\""});
  expect_data_error([] { read_csv(fixture("nan_cell.csv")); }, fixture("nan_cell.csv"), 3, "b",
                    {"missing value 'NaN'", "expected a number"});
}

TEST(CsvReaderMissing, ForwardFillAndZero) {
  CsvReadOptions ffill;
  ffill.missing = MissingPolicy::kForwardFill;
  auto t = read_csv(fixture("empty_cell.csv"), ffill);
  EXPECT_EQ(at(t, 1, 0), 1.0);  // from row 0
  EXPECT_EQ(at(t, 1, 1), 5.0);
  t = read_csv(fixture("nan_cell.csv"), ffill);
  EXPECT_EQ(at(t, 1, 1), 2.0);
  EXPECT_EQ(at(t, 2, 1), 2.0);  // a filled value is carried on
  EXPECT_EQ(at(t, 2, 0), 7.0);

  CsvReadOptions zero;
  zero.missing = MissingPolicy::kZero;
  t = read_csv(fixture("nan_cell.csv"), zero);
  EXPECT_EQ(at(t, 1, 1), 0.0);
  EXPECT_EQ(at(t, 2, 1), 0.0);
  t = read_csv(fixture("empty_first_row.csv"), zero);
  EXPECT_EQ(at(t, 0, 0), 0.0);
  EXPECT_EQ(at(t, 0, 1), 2.0);

  expect_data_error([&] { read_csv(fixture("empty_first_row.csv"), ffill); }, fixture("empty_first_row.csv"), 2, "a",
                    {"empty cell in the first data row", "forward fill has no earlier value"});
}

TEST(CsvReaderMissing, PolicyNames) {
  EXPECT_EQ(parse_missing_policy("error"), MissingPolicy::kError);
  EXPECT_EQ(parse_missing_policy("ffill"), MissingPolicy::kForwardFill);
  EXPECT_EQ(parse_missing_policy("ZERO"), MissingPolicy::kZero);
  EXPECT_EQ(to_string(MissingPolicy::kForwardFill), "ffill");
  expect_data_error([] { parse_missing_policy("mean"); }, "", 0, "",
                    {"unknown missing-value policy 'mean'", "expected 'error', 'ffill' or 'zero'"});
}

TEST(CsvWriter, FormatsShortestRoundTripNumbers) {
  const auto v64 = torch::tensor({0.1, -2.5, 1e-7, 30.5310001373291}, torch::kFloat64).view({2, 2});
  EXPECT_EQ(format_csv("date", {"a", "OT"}, {"d1", "d2"}, v64), "date,a,OT\nd1,0.1,-2.5\nd2,1e-07,30.5310001373291\n");
  const auto v32 = torch::tensor({0.1f, 3.0f}, torch::kFloat32).view({1, 2});
  EXPECT_EQ(format_csv("date", {"x,y", "q\""}, {"d"}, v32), "date,\"x,y\",\"q\"\"\"\nd,0.1,3\n");
  expect_data_error(
      [&] {
        format_csv("date", {"a"}, {"d1", "d2"}, v64);
      },
      "", 0, "", {"values of shape [2, 2]", "expected (2, 1)"});
}

TEST(CsvWriter, TableRoundTripsThroughTheReader) {
  mmx::data::testing::TempDir dir;
  for (const char* name : {"crlf_weather.csv", "unpadded_no_newline.csv", "basic.csv"}) {
    const auto t = read_csv(fixture(name));
    const std::string out = (dir.path / name).string();
    write_table_csv(out, t);
    const auto back = read_csv(out);
    EXPECT_EQ(back.columns, t.columns) << name;
    EXPECT_EQ(back.timestamps, t.timestamps) << name;
    EXPECT_EQ(back.time_format, t.time_format) << name;
    EXPECT_TRUE(torch::equal(back.values, t.values)) << name;
  }
  // Only the written files remain: no temporary files left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path), {}), 3);
}

TEST(CsvWriter, ForecastWithContinuedTimestamps) {
  mmx::data::testing::TempDir dir;
  const auto t = read_csv(fixture("unpadded_no_newline.csv"));
  const auto dates = next_timestamps(t.date_string(t.n_rows() - 1), infer_step_seconds(t.timestamps), 2);
  const auto forecast = torch::tensor({1.0f, 2.0f, 3.0f, 4.5f, 5.0f, 6.25f}).view({2, 3});
  const std::string out = (dir.path / "forecast.csv").string();
  std::ofstream(out) << "old content";
  write_forecast_csv(out, t.date_column, t.columns, dates, forecast);
  std::ifstream in(out);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "date,0,1,OT\n1990/1/4 0:00,1,2,3\n1990/1/5 0:00,4.5,5,6.25\n");
}

}  // namespace
}  // namespace mmx::data
