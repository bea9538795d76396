// Timestamps: layouts, validation, formatting, time step, continuation.
#include <gtest/gtest.h>

#include "data_test_util.h"
#include "mmx/data/timeseries/timestamps.h"

namespace mmx::data {
namespace {

constexpr Timestamp k2016_07_01 = 1467331200;  // 2016-07-01 00:00:00 as seconds since 1970
constexpr Timestamp k1990_01_01 = 631152000;   // 1990-01-01 00:00:00

TEST(Timestamps, ParsesEveryBenchmarkLayout) {
  TimestampFormat f;
  EXPECT_EQ(parse_timestamp("2016-07-01 00:00:00", &f), k2016_07_01);
  EXPECT_EQ(f, (TimestampFormat{'-', ' ', true, true, true}));
  EXPECT_EQ(parse_timestamp("2016-07-01 19:45:30", &f), k2016_07_01 + 19 * 3600 + 45 * 60 + 30);
  EXPECT_EQ(parse_timestamp("1990/1/1 0:00", &f), k1990_01_01);
  EXPECT_EQ(f, (TimestampFormat{'/', ' ', true, false, false}));
  EXPECT_EQ(parse_timestamp("1990/01/02 03:04", &f), k1990_01_01 + 86400 + 3 * 3600 + 4 * 60);
  EXPECT_TRUE(f.zero_padded);
  EXPECT_FALSE(f.has_seconds);
  EXPECT_EQ(parse_timestamp("2016-07-01T01:00:00", &f), k2016_07_01 + 3600);
  EXPECT_EQ(f.time_sep, 'T');
  EXPECT_EQ(parse_timestamp("  2016-07-01  ", &f), k2016_07_01);
  EXPECT_FALSE(f.has_time);
  EXPECT_EQ(parse_timestamp("2010/10/10 0:00"), 1286668800);
}

TEST(Timestamps, RejectsInvalidText) {
  Timestamp t = 0;
  for (const char* bad : {"", "abc", "2016-13-01 00:00:00", "2021-02-29 00:00:00", "2016-07-01 25:00:00",
                          "2016-07-01 00:00:00x", "2016-07-01 00:00:00.5", "07/01/2016 00:00", "12345"}) {
    EXPECT_FALSE(try_parse_timestamp(bad, t)) << bad;
  }
  EXPECT_TRUE(try_parse_timestamp("2020-02-29 00:00:00", t));  // leap day
  mmx::data::testing::expect_data_error([] { parse_timestamp("2016-13-01"); }, "", 0, "",
                                        {"cannot parse '2016-13-01' as a timestamp", "expected"});
}

TEST(Timestamps, FormatsLikeTheInput) {
  TimestampFormat ett;
  EXPECT_EQ(format_timestamp(k2016_07_01 + 3600 * 19, ett), "2016-07-01 19:00:00");
  TimestampFormat exch{'/', ' ', true, false, false};
  EXPECT_EQ(format_timestamp(k1990_01_01, exch), "1990/1/1 0:00");
  EXPECT_EQ(format_timestamp(1286668800 + 86400, exch), "2010/10/11 0:00");
  TimestampFormat day{'-', ' ', false, false, true};
  EXPECT_EQ(format_timestamp(k2016_07_01, day), "2016-07-01");
  for (const char* s : {"2018-06-26 19:00:00", "1990/1/1 0:00", "2016-07-01T01:30:00", "2002-01-01"}) {
    TimestampFormat f;
    const Timestamp t = parse_timestamp(s, &f);
    EXPECT_EQ(format_timestamp(t, f), s);
  }
}

TEST(Timestamps, MedianStepIgnoresOneDuplicateAndOneGap) {
  const std::vector<Timestamp> ts = {0, 600, 1200, 1200, 1800, 2400, 8400, 9000};
  EXPECT_EQ(infer_step_seconds(ts), 600);
  EXPECT_EQ(infer_step_seconds({k1990_01_01, k1990_01_01 + 86400}), 86400);
  mmx::data::testing::expect_data_error([] { infer_step_seconds({5}); }, "", 0, "",
                                        {"from 1 timestamp(s); expected at least 2"});
  mmx::data::testing::expect_data_error(
      [] {
        infer_step_seconds({10, 5, 0});
      },
      "", 0, "", {"expected timestamps in increasing order"});
}

TEST(Timestamps, NextTimestampsContinueTheSeries) {
  EXPECT_EQ(next_timestamps(Timestamp{100}, 600, 3), (std::vector<Timestamp>{700, 1300, 1900}));
  EXPECT_TRUE(next_timestamps(Timestamp{100}, 600, 0).empty());
  EXPECT_EQ(next_timestamps("2018-06-26 23:00:00", 3600, 2),
            (std::vector<std::string>{"2018-06-27 00:00:00", "2018-06-27 01:00:00"}));
  EXPECT_EQ(next_timestamps("2010/12/31 0:00", 86400, 2), (std::vector<std::string>{"2011/1/1 0:00", "2011/1/2 0:00"}));
  EXPECT_EQ(next_timestamps("2020-12-31 23:50:00", 600, 1), (std::vector<std::string>{"2021-01-01 00:00:00"}));
  EXPECT_EQ(next_timestamps("2020-06-30 00:00:00", 7 * 86400, 1), (std::vector<std::string>{"2020-07-07 00:00:00"}));
  mmx::data::testing::expect_data_error([] { next_timestamps(Timestamp{0}, 0, 1); }, "", 0, "",
                                        {"expected a positive step"});
  mmx::data::testing::expect_data_error([] { next_timestamps(Timestamp{0}, 1, -1); }, "", 0, "", {"expected >= 0"});
}

}  // namespace
}  // namespace mmx::data
