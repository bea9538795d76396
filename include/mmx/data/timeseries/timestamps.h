// Timestamps of the benchmark CSVs: parsing, formatting, time step, continuation for forecasts.
// Parsing and calendar arithmetic go through Howard Hinnant's date library (Debian
// libhowardhinnant-date-dev, header-only part).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mmx::data {

/// Seconds since 1970-01-01 00:00:00. The CSVs carry naive local times without a zone; they are
/// read as if UTC, so differences are exact (no daylight-saving jumps appear).
using Timestamp = std::int64_t;

/// How a timestamp column is written, so forecasts can be written the same way.
/// ETT/weather/ILI: `2016-07-01 00:00:00` (date_sep '-', zero-padded, seconds).
/// exchange_rate: `1990/1/1 0:00` (date_sep '/', not padded, no seconds).
struct TimestampFormat {
  char date_sep = '-';      ///< between year, month and day: '-' or '/'
  char time_sep = ' ';      ///< between date and time: ' ' or 'T'
  bool has_time = true;     ///< false for date-only values (`2002-01-01`)
  bool has_seconds = true;  ///< `HH:MM:SS` (true) or `HH:MM` (false)
  bool zero_padded = true;  ///< month, day and hour printed with 2 digits; minutes and seconds
                            ///< are always 2 digits
  bool operator==(const TimestampFormat&) const = default;
};

/// Parses one timestamp. Accepted: `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DD HH:MM`, the same with
/// '/' as date separator or 'T' between date and time, date-only `YYYY-MM-DD` / `YYYY/MM/DD`;
/// month, day and hour may be unpadded (`1990/1/1 0:00`). Surrounding spaces are ignored.
/// Returns false (and leaves the outputs unspecified) when the text is not one of these or not a
/// valid calendar date/time (2021-02-30, 25:00). `format` (optional) receives the detected
/// layout; zero_padded is false only when some field shows a single digit.
bool try_parse_timestamp(std::string_view text, Timestamp& out, TimestampFormat* format = nullptr);

/// try_parse_timestamp that throws DataError("cannot parse '<text>' as a timestamp; expected ...")
/// naming the accepted layouts.
Timestamp parse_timestamp(std::string_view text, TimestampFormat* format = nullptr);

/// Formats `t` in `format` (e.g. `2016-07-01 00:00:00` or `1990/1/1 0:00`).
std::string format_timestamp(Timestamp t, const TimestampFormat& format = {});

/// Time step of a series: the median of consecutive differences, in seconds (the upper median for
/// an even count), so one duplicated timestamp or one gap (both occur in weather.csv) does not
/// change it. Errors: DataError for fewer than 2 timestamps or a median <= 0 (unsorted data).
std::int64_t infer_step_seconds(const std::vector<Timestamp>& timestamps);

/// The `count` timestamps after `last`: last + step, last + 2 step, ... (seconds; fixed steps,
/// so hourly, 10-minute, daily and weekly data continue exactly). Errors: DataError for
/// step <= 0 or count < 0.
std::vector<Timestamp> next_timestamps(Timestamp last, std::int64_t step_seconds, std::int64_t count);

/// The same, parsing `last` and formatting the results like it (`1990/1/1 0:00` continues as
/// `1990/1/2 0:00`). Errors: DataError when `last` does not parse.
std::vector<std::string> next_timestamps(std::string_view last, std::int64_t step_seconds, std::int64_t count);

/// A time step: a fixed number of seconds (hourly, daily, weekly, ... data) or a number of calendar
/// months (monthly, quarterly, yearly data, whose steps in seconds vary). Exactly one is > 0.
struct Frequency {
  std::int64_t seconds = 0;
  std::int64_t months = 0;
  bool operator==(const Frequency&) const = default;
};

/// Parses `<count><unit>` with unit s, min, h, d, w (fixed) or mo, q, y (calendar); the count may
/// be left out ("h" = "1h"). Examples: "10min", "1h", "1d", "1w", "1mo", "3mo", "1q", "1y".
/// Errors: DataError naming the text and the accepted units.
Frequency parse_frequency(std::string_view text);

/// The canonical text of `f` in its largest whole unit ("3600 s" -> "1h", 3 months -> "1q").
std::string to_string(const Frequency& f);

/// The step of a series: calendar months when every step is a whole number of months landing on
/// the same day of the month (or on month ends) at the same time of day, with the median such
/// count; otherwise the median difference in seconds (infer_step_seconds). Errors: as
/// infer_step_seconds.
Frequency infer_frequency(const std::vector<Timestamp>& timestamps);

/// The `count` timestamps after `last` at step `f`. Calendar steps keep the day of the month,
/// clamped to the month's last day; a `last` on a month end stays on month ends.
/// Errors: DataError for a step <= 0 or count < 0.
std::vector<Timestamp> next_timestamps(Timestamp last, const Frequency& f, std::int64_t count);

/// The same, parsing `last` and formatting the results like it.
std::vector<std::string> next_timestamps(std::string_view last, const Frequency& f, std::int64_t count);

}  // namespace mmx::data
