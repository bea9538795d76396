// Timestamp parsing/formatting through Howard Hinnant's date (header-only date/date.h).
#include "mmx/data/timeseries/timestamps.h"

#include <date/date.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "mmx/data/error.h"

namespace mmx::data {
namespace {

struct Layout {
  const char* fmt;
  TimestampFormat format;
};

// Tried in order; the first that consumes the whole text wins. date's %m, %d, %H, %M, %S read one
// or two digits, so unpadded values (`1990/1/1 0:00`) parse with the same layouts.
const std::array<Layout, 8> kLayouts = {{
    {"%Y-%m-%d %H:%M:%S", {'-', ' ', true, true, true}},
    {"%Y-%m-%d %H:%M", {'-', ' ', true, false, true}},
    {"%Y/%m/%d %H:%M:%S", {'/', ' ', true, true, true}},
    {"%Y/%m/%d %H:%M", {'/', ' ', true, false, true}},
    {"%Y-%m-%dT%H:%M:%S", {'-', 'T', true, true, true}},
    {"%Y-%m-%dT%H:%M", {'-', 'T', true, false, true}},
    {"%Y-%m-%d", {'-', ' ', false, false, true}},
    {"%Y/%m/%d", {'/', ' ', false, false, true}},
}};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Padding evidence: month, day and hour are the 2nd to 4th digit groups; one of them written with
// a single digit means the column is unpadded.
bool looks_padded(std::string_view s) {
  int group = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] < '0' || s[i] > '9') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    if (group >= 1 && group <= 3 && j - i == 1) return false;
    ++group;
    i = j;
  }
  return true;
}

}  // namespace

bool try_parse_timestamp(std::string_view text, Timestamp& out, TimestampFormat* format) {
  text = trim(text);
  if (text.size() < 8 || text.size() > 40) return false;
  // Reused across calls: constructing a stream per cell dominates the cost otherwise.
  thread_local std::istringstream is;
  thread_local size_t last_hit = 0;
  for (size_t k = 0; k < kLayouts.size(); ++k) {
    const size_t idx = (last_hit + k) % kLayouts.size();
    is.clear();
    is.str(std::string(text));
    date::sys_seconds tp;
    date::from_stream(is, kLayouts[idx].fmt, tp);
    if (is.fail()) continue;
    if (is.peek() != std::char_traits<char>::eof()) continue;
    last_hit = idx;
    out = tp.time_since_epoch().count();
    if (format) {
      *format = kLayouts[idx].format;
      format->zero_padded = looks_padded(text);
    }
    return true;
  }
  return false;
}

Timestamp parse_timestamp(std::string_view text, TimestampFormat* format) {
  Timestamp t = 0;
  if (!try_parse_timestamp(text, t, format)) {
    throw DataError("cannot parse '" + std::string(text) +
                    "' as a timestamp; expected 'YYYY-MM-DD HH:MM:SS', 'YYYY-MM-DD HH:MM', "
                    "'YYYY/M/D H:MM' (month, day, hour may be unpadded; '/' or '-'; 'T' allowed "
                    "before the time) or a date 'YYYY-MM-DD'");
  }
  return t;
}

std::string format_timestamp(Timestamp t, const TimestampFormat& format) {
  const date::sys_seconds tp{std::chrono::seconds(t)};
  const auto day = date::floor<date::days>(tp);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss<std::chrono::seconds> hms{tp - day};
  const int y = static_cast<int>(ymd.year());
  const unsigned mo = static_cast<unsigned>(ymd.month());
  const unsigned d = static_cast<unsigned>(ymd.day());
  const long h = hms.hours().count();
  const long mi = hms.minutes().count();
  const long s = static_cast<long>(hms.seconds().count());
  char buf[64];
  const char sep = format.date_sep;
  int n = format.zero_padded ? std::snprintf(buf, sizeof buf, "%04d%c%02u%c%02u", y, sep, mo, sep, d)
                             : std::snprintf(buf, sizeof buf, "%d%c%u%c%u", y, sep, mo, sep, d);
  std::string out(buf, static_cast<size_t>(n));
  if (!format.has_time) return out;
  n = format.zero_padded ? std::snprintf(buf, sizeof buf, "%c%02ld:%02ld", format.time_sep, h, mi)
                         : std::snprintf(buf, sizeof buf, "%c%ld:%02ld", format.time_sep, h, mi);
  out.append(buf, static_cast<size_t>(n));
  if (format.has_seconds) {
    n = std::snprintf(buf, sizeof buf, ":%02ld", s);
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::int64_t infer_step_seconds(const std::vector<Timestamp>& timestamps) {
  if (timestamps.size() < 2) {
    throw DataError("cannot infer a time step from " + std::to_string(timestamps.size()) +
                    " timestamp(s); expected at least 2");
  }
  std::vector<std::int64_t> diffs(timestamps.size() - 1);
  for (size_t i = 0; i + 1 < timestamps.size(); ++i) diffs[i] = timestamps[i + 1] - timestamps[i];
  auto mid = diffs.begin() + static_cast<std::ptrdiff_t>(diffs.size() / 2);
  std::nth_element(diffs.begin(), mid, diffs.end());
  if (*mid <= 0) {
    throw DataError("median time step is " + std::to_string(*mid) + " s; expected timestamps in increasing order");
  }
  return *mid;
}

std::vector<Timestamp> next_timestamps(Timestamp last, std::int64_t step_seconds, std::int64_t count) {
  if (step_seconds <= 0) {
    throw DataError("next_timestamps: step " + std::to_string(step_seconds) + " s; expected a positive step");
  }
  if (count < 0) {
    throw DataError("next_timestamps: count " + std::to_string(count) + "; expected >= 0");
  }
  std::vector<Timestamp> out(static_cast<size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) out[static_cast<size_t>(i)] = last + (i + 1) * step_seconds;
  return out;
}

std::vector<std::string> next_timestamps(std::string_view last, std::int64_t step_seconds, std::int64_t count) {
  TimestampFormat format;
  const Timestamp t = parse_timestamp(last, &format);
  std::vector<std::string> out;
  for (Timestamp v : next_timestamps(t, step_seconds, count)) out.push_back(format_timestamp(v, format));
  return out;
}

namespace {

struct Unit {
  const char* name;
  std::int64_t seconds;  // 0 for calendar units
  std::int64_t months;
};
// Largest first: to_string picks the first unit that divides the step.
constexpr std::array<Unit, 8> kUnits = {{{"y", 0, 12},
                                         {"q", 0, 3},
                                         {"mo", 0, 1},
                                         {"w", 7 * 86400, 0},
                                         {"d", 86400, 0},
                                         {"h", 3600, 0},
                                         {"min", 60, 0},
                                         {"s", 1, 0}}};

date::year_month_day ymd_of(Timestamp t) {
  return date::year_month_day{date::floor<date::days>(date::sys_seconds{std::chrono::seconds(t)})};
}

bool is_month_end(const date::year_month_day& d) {
  return d.day() == date::year_month_day_last{d.year(), date::month_day_last{d.month()}}.day();
}

std::int64_t month_index(const date::year_month_day& d) {
  return static_cast<std::int64_t>(static_cast<int>(d.year())) * 12 +
         static_cast<std::int64_t>(static_cast<unsigned>(d.month())) - 1;
}

}  // namespace

Frequency parse_frequency(std::string_view text) {
  const std::string_view t = trim(text);
  size_t digits = 0;
  while (digits < t.size() && t[digits] >= '0' && t[digits] <= '9') ++digits;
  std::int64_t count = 1;
  if (digits > 0) {
    if (digits > 9) throw DataError("frequency '" + std::string(text) + "': count too large");
    count = std::stoll(std::string(t.substr(0, digits)));
  }
  const std::string_view unit = t.substr(digits);
  for (const Unit& u : kUnits) {
    if (unit == u.name && count > 0) {
      Frequency f;
      if (u.months > 0)
        f.months = count * u.months;
      else
        f.seconds = count * u.seconds;
      return f;
    }
  }
  throw DataError("cannot read '" + std::string(text) +
                  "' as a frequency; expected a positive count and a unit s, min, h, d, w, mo, q or y "
                  "(e.g. '15min', '1h', '1d', '1mo')");
}

std::string to_string(const Frequency& f) {
  for (const Unit& u : kUnits) {
    if (f.months > 0 && u.months > 0 && f.months % u.months == 0) return std::to_string(f.months / u.months) + u.name;
    if (f.seconds > 0 && u.seconds > 0 && f.seconds % u.seconds == 0)
      return std::to_string(f.seconds / u.seconds) + u.name;
  }
  return "0s";
}

Frequency infer_frequency(const std::vector<Timestamp>& timestamps) {
  const std::int64_t step = infer_step_seconds(timestamps);
  Frequency f;
  f.seconds = step;
  if (step < 28 * 86400) return f;
  std::vector<std::int64_t> month_steps;
  date::year_month_day prev = ymd_of(timestamps.front());
  const std::int64_t time_of_day =
      timestamps.front() - date::sys_seconds{date::sys_days{prev}}.time_since_epoch().count();
  for (size_t i = 1; i < timestamps.size(); ++i) {
    const date::year_month_day cur = ymd_of(timestamps[i]);
    const std::int64_t tod = timestamps[i] - date::sys_seconds{date::sys_days{cur}}.time_since_epoch().count();
    const bool same_day = cur.day() == prev.day() || (is_month_end(cur) && is_month_end(prev));
    if (!same_day || tod != time_of_day) return f;
    month_steps.push_back(month_index(cur) - month_index(prev));
    prev = cur;
  }
  auto mid = month_steps.begin() + static_cast<std::ptrdiff_t>(month_steps.size() / 2);
  std::nth_element(month_steps.begin(), mid, month_steps.end());
  if (*mid < 1) return f;
  return Frequency{0, *mid};
}

std::vector<Timestamp> next_timestamps(Timestamp last, const Frequency& f, std::int64_t count) {
  if (f.months <= 0) return next_timestamps(last, f.seconds, count);
  if (count < 0) throw DataError("next_timestamps: count " + std::to_string(count) + "; expected >= 0");
  const date::year_month_day start = ymd_of(last);
  const std::int64_t tod = last - date::sys_seconds{date::sys_days{start}}.time_since_epoch().count();
  const bool month_end = is_month_end(start);
  std::vector<Timestamp> out;
  for (std::int64_t i = 1; i <= count; ++i) {
    const date::year_month ym = date::year_month{start.year(), start.month()} + date::months{i * f.months};
    const date::day last_day = date::year_month_day_last{ym.year(), date::month_day_last{ym.month()}}.day();
    const date::day d = month_end || start.day() > last_day ? last_day : start.day();
    const date::sys_days day{date::year_month_day{ym.year(), ym.month(), d}};
    out.push_back(date::sys_seconds{day}.time_since_epoch().count() + tod);
  }
  return out;
}

std::vector<std::string> next_timestamps(std::string_view last, const Frequency& f, std::int64_t count) {
  TimestampFormat format;
  const Timestamp t = parse_timestamp(last, &format);
  std::vector<std::string> out;
  for (Timestamp v : next_timestamps(t, f, count)) out.push_back(format_timestamp(v, format));
  return out;
}

}  // namespace mmx::data
