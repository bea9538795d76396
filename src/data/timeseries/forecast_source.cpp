// load_forecast_source: a benchmark by name or an own CSV -> columns, split, step, scaled windows.
#include "mmx/data/timeseries/forecast_source.h"

#include <date/date.h>

#include <algorithm>
#include <sstream>

#include "mmx/data/data_root.h"
#include "mmx/data/error.h"
#include "mmx/data/timeseries/registry.h"

namespace mmx::data {
namespace {

// Keeps the columns `keep` (indices into table.columns) in that order.
void select_columns(TimeSeriesTable& table, const std::vector<std::int64_t>& keep) {
  std::vector<std::string> names;
  for (auto j : keep) names.push_back(table.columns[static_cast<size_t>(j)]);
  table.values = table.values.index_select(1, torch::tensor(keep, torch::kLong)).contiguous();
  table.columns = std::move(names);
}

std::int64_t first_row_at_or_after(const TimeSeriesTable& t, const std::string& when, const char* key) {
  Timestamp at = 0;
  try {
    at = parse_timestamp(when);
  } catch (const DataError& e) {
    throw DataError(std::string("data.") + key + " = '" + when + "': " + e.what());
  }
  const auto it = std::lower_bound(t.timestamps.begin(), t.timestamps.end(), at);
  return static_cast<std::int64_t>(it - t.timestamps.begin());
}

// Moves the named future covariates after the other columns (their order as named); returns how
// many. Errors name the file and list the columns.
std::int64_t move_covariates_last(TimeSeriesTable& table, const ForecastSource& src, const std::string& file) {
  if (src.future_covariates.empty()) return 0;
  std::vector<std::int64_t> rest, cov;
  for (const auto& name : src.future_covariates) {
    const auto it = std::find(table.columns.begin(), table.columns.end(), name);
    if (it == table.columns.end()) {
      std::string names;
      for (const auto& c : table.columns) names += (names.empty() ? "'" : ", '") + c + "'";
      throw DataError(
          file, 0, name,
          "data.future_covariates names '" + name + "', which is not a numeric column (columns: " + names + ")");
    }
    if (src.features != FeatureMode::kMulti && name == src.target)
      throw DataError(file, 0, name, "'" + name + "' is data.target and cannot also be a future covariate");
    const auto j = static_cast<std::int64_t>(it - table.columns.begin());
    if (std::find(cov.begin(), cov.end(), j) != cov.end())
      throw DataError(file, 0, name, "data.future_covariates names '" + name + "' twice");
    cov.push_back(j);
  }
  for (std::int64_t j = 0; j < table.n_vars(); ++j)
    if (std::find(cov.begin(), cov.end(), j) == cov.end()) rest.push_back(j);
  if (rest.empty())
    throw DataError(file, 0, "", "every column is a future covariate; expected at least one variate to forecast");
  rest.insert(rest.end(), cov.begin(), cov.end());
  select_columns(table, rest);
  return static_cast<std::int64_t>(cov.size());
}

}  // namespace

torch::Tensor calendar_features(const std::vector<Timestamp>& timestamps, const std::vector<std::string>& names) {
  static const std::vector<std::string> kValid{"minute", "hour", "day_of_week", "day_of_month", "day_of_year", "month"};
  for (const auto& n : names)
    if (std::find(kValid.begin(), kValid.end(), n) == kValid.end())
      throw DataError("unknown calendar feature '" + n +
                      "'; expected any of minute, hour, day_of_week, day_of_month, day_of_year, month");
  const auto rows = static_cast<std::int64_t>(timestamps.size()), k = static_cast<std::int64_t>(names.size());
  auto out = torch::empty({rows, k}, torch::kFloat64);
  auto a = out.accessor<double, 2>();
  for (std::int64_t i = 0; i < rows; ++i) {
    const Timestamp t = timestamps[static_cast<size_t>(i)];
    const auto day = date::floor<date::days>(date::sys_seconds{std::chrono::seconds{t}});
    const date::year_month_day ymd{day};
    const std::int64_t secs = t - std::chrono::duration_cast<std::chrono::seconds>(day.time_since_epoch()).count();
    for (std::int64_t c = 0; c < k; ++c) {
      const std::string& n = names[static_cast<size_t>(c)];
      double v = 0;
      if (n == "minute") v = static_cast<double>((secs / 60) % 60) / 59.0;
      if (n == "hour") v = static_cast<double>(secs / 3600) / 23.0;
      if (n == "day_of_week") v = static_cast<double>(date::weekday{day}.iso_encoding() - 1) / 6.0;
      if (n == "day_of_month") v = static_cast<double>(static_cast<unsigned>(ymd.day()) - 1) / 30.0;
      if (n == "day_of_year") v = static_cast<double>((day - date::sys_days{ymd.year() / 1 / 1}).count()) / 365.0;
      if (n == "month") v = static_cast<double>(static_cast<unsigned>(ymd.month()) - 1) / 11.0;
      a[i][c] = v - 0.5;
    }
  }
  return out;
}

FeatureMode parse_feature_mode(std::string_view name) {
  if (name == "M") return FeatureMode::kMulti;
  if (name == "S") return FeatureMode::kSingle;
  if (name == "MS") return FeatureMode::kMultiSingle;
  throw DataError("unknown feature mode '" + std::string(name) +
                  "'; expected \"M\" (all variates in and out), \"S\" (the target alone) or \"MS\" "
                  "(all variates in, the target out)");
}

std::string to_string(FeatureMode mode) {
  switch (mode) {
    case FeatureMode::kMulti:
      return "M";
    case FeatureMode::kSingle:
      return "S";
    case FeatureMode::kMultiSingle:
      return "MS";
  }
  return "M";
}

LoadedSeries load_forecast_source(const ForecastSource& src, std::int64_t seq_len, std::int64_t pred_len) {
  const bool own = !src.path.empty();
  if (own == !src.dataset.empty())
    throw DataError("expected exactly one of data.dataset (a benchmark name) and data.path (a CSV of one's own)");
  CsvReadOptions csv = src.csv;
  std::string file;
  SplitKind kind = SplitKind::kRatio;
  Frequency registered_freq;
  if (own) {
    file = src.path;
    csv.skip_non_numeric = true;
    csv.require_increasing = true;
  } else {
    const DatasetInfo& info = find_dataset(src.dataset);
    file = dataset_path(info, src.data_root.empty() ? default_data_root() : src.data_root);
    kind = info.split;
    registered_freq.seconds = info.step_seconds;
  }
  TimeSeriesTable table = read_csv(file, csv);

  LoadedSeries out;
  out.features = src.features;
  const std::int64_t n_cov = move_covariates_last(table, src, file);
  if (src.features != FeatureMode::kMulti) {
    const auto it = std::find(table.columns.begin(), table.columns.end(), src.target);
    if (src.target.empty() || it == table.columns.end()) {
      std::string names;
      for (const auto& c : table.columns) names += (names.empty() ? "'" : ", '") + c + "'";
      throw DataError(file, 0, src.target,
                      "features = \"" + to_string(src.features) + "\" needs data.target to name a numeric column; " +
                          (src.target.empty() ? std::string("none given") : "no such column") + " (columns: " + names +
                          ")");
    }
    const auto t = static_cast<std::int64_t>(it - table.columns.begin());
    const std::int64_t n_variates = table.n_vars() - n_cov;
    std::vector<std::int64_t> keep;
    if (src.features == FeatureMode::kMultiSingle)
      for (std::int64_t j = 0; j < n_variates; ++j)
        if (j != t) keep.push_back(j);
    keep.push_back(t);
    out.target_index = static_cast<std::int64_t>(keep.size()) - 1;
    for (std::int64_t j = n_variates; j < table.n_vars(); ++j) keep.push_back(j);
    select_columns(table, keep);
  }
  if (!src.calendar.empty()) {
    table.values = torch::cat({table.values, calendar_features(table.timestamps, src.calendar)}, 1).contiguous();
    for (const auto& name : src.calendar) table.columns.push_back("calendar:" + name);
  }
  out.n_future = n_cov + static_cast<std::int64_t>(src.calendar.size());

  if (!src.freq.empty()) {
    out.freq = parse_frequency(src.freq);
    out.freq_inferred = false;
  } else if (own) {
    out.freq = infer_frequency(table.timestamps);
  } else {
    out.freq = registered_freq;
    out.freq_inferred = false;
  }

  std::ostringstream how;
  const std::int64_t n = table.n_rows();
  if (own) {
    std::int64_t n_train = 0, n_test = 0;
    if (!src.val_start.empty() || !src.test_start.empty()) {
      if (src.val_start.empty() || src.test_start.empty())
        throw DataError(file, 0, "", "a split by dates needs both data.val_start and data.test_start");
      n_train = first_row_at_or_after(table, src.val_start, "val_start");
      const std::int64_t test_begin = first_row_at_or_after(table, src.test_start, "test_start");
      if (test_begin < n_train)
        throw DataError(file, 0, "",
                        "data.test_start '" + src.test_start + "' is before data.val_start '" + src.val_start +
                            "'; expected val_start <= test_start");
      n_test = n - test_begin;
      how << "split by dates: train before " << src.val_start << ", test from " << src.test_start;
    } else {
      n_train = static_cast<std::int64_t>(static_cast<double>(n) * src.split.at(0));
      n_test = static_cast<std::int64_t>(static_cast<double>(n) * src.split.at(2));
      how << "split " << src.split[0] << "/" << src.split[1] << "/" << src.split[2];
    }
    out.data =
        prepare_forecast_data(std::move(table), split_ranges_by_counts(n, seq_len, n_train, n_test), seq_len, pred_len);
    how << " = rows " << n_train << "/" << (n - n_train - n_test) << "/" << n_test;
  } else {
    out.data = prepare_forecast_data(std::move(table), kind, seq_len, pred_len);
    how << "split " << to_string(kind);
  }
  out.data.n_future = out.n_future;
  const TimeSeriesTable& t = out.data.table;
  std::ostringstream d;
  d << file << ": " << t.n_rows() << " rows from " << t.date_string(0) << " to " << t.date_string(t.n_rows() - 1)
    << ", step " << to_string(out.freq) << (out.freq_inferred ? " (inferred)" : "") << "; date column '"
    << t.date_column << "'; " << out.data.n_targets() << " variate(s)";
  if (out.n_future > 0) {
    d << ", " << out.n_future << " future covariate(s):";
    for (std::int64_t j = out.data.n_targets(); j < t.n_vars(); ++j)
      d << " '" << t.columns[static_cast<size_t>(j)] << "'";
  }
  if (out.target_index >= 0) d << ", features " << to_string(out.features) << " with target '" << src.target << "'";
  if (!t.skipped_columns.empty()) {
    d << "; text columns left out:";
    for (const auto& c : t.skipped_columns) d << " '" << c << "'";
  }
  d << "; " << how.str();
  out.description = d.str();
  return out;
}

}  // namespace mmx::data
