// Where a forecasting series comes from: a registered benchmark by name, or the user's own CSV
// (the TSLib `custom` data set, generalised), with the variates to use, the feature mode, the
// split and the time step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmx/data/timeseries/csv_reader.h"
#include "mmx/data/timeseries/forecast_data.h"
#include "mmx/data/timeseries/timestamps.h"

namespace mmx::data {

/// TSLib's feature modes (`--features`).
enum class FeatureMode {
  kMulti,        ///< "M": every variate in, every variate forecast and scored
  kSingle,       ///< "S": the target alone in and out
  kMultiSingle,  ///< "MS": every variate in, the target (last column) scored and written
};
/// "M" | "S" | "MS" -> FeatureMode. Errors: DataError listing the valid names.
FeatureMode parse_feature_mode(std::string_view name);
std::string to_string(FeatureMode mode);

/// What to load. Exactly one of `dataset` and `path` is set.
struct ForecastSource {
  std::string dataset;    ///< registry name (ETTh1, Weather, ...): its file, split rule and step
  std::string data_root;  ///< where registered data sets are looked up ("" = default_data_root())
  std::string path;       ///< a CSV of one's own
  CsvReadOptions csv;     ///< date_column, columns, missing policy (own files: also
                          ///< skip_non_numeric and require_increasing, set by load_forecast_source)
  FeatureMode features = FeatureMode::kMulti;
  std::string target;  ///< S / MS: the target column (TSLib's default is "OT")
  /// Own files: train / val / test fractions of the rows (TSLib: int(n * train) and int(n * test)
  /// rows, the rest validates). Ignored when val_start and test_start are set.
  std::vector<double> split = {0.7, 0.1, 0.2};
  std::string val_start, test_start;  ///< own files: the first timestamp of val and of test
  std::string freq;                   ///< "" = inferred (infer_frequency), else parse_frequency's text
  /// Columns whose future values are known when forecasting (MambaMixer §5.5's Z): read like the
  /// variates, standardised with them, placed after them, never forecast or scored.
  std::vector<std::string> future_covariates;
  /// Calendar features of the timestamps, built-in future covariates placed after those:
  /// any of minute, hour, day_of_week, day_of_month, day_of_year, month (calendar_features).
  std::vector<std::string> calendar;
};

/// The calendar features of `timestamps`, one column per name, each scaled to [-0.5, 0.5] as
/// TSLib's `timeF` encoding does (hour / 23 - 0.5, (day_of_month - 1) / 30 - 0.5, ...; weekday 0 =
/// Monday). Errors: DataError naming an unknown feature and listing the valid ones.
torch::Tensor calendar_features(const std::vector<Timestamp>& timestamps, const std::vector<std::string>& names);

/// A loaded series with its provenance.
struct LoadedSeries {
  ForecastData data;
  FeatureMode features = FeatureMode::kMulti;
  std::int64_t target_index = -1;  ///< S / MS: the target's index in data.table.columns, else -1
  /// The future covariates and calendar features: the last n_future columns of data.table
  /// (= data.n_future); the variates are the columns before them.
  std::int64_t n_future = 0;
  Frequency freq;
  bool freq_inferred = true;
  std::string description;  ///< one line for the log: file, columns, split, step
};

/// Reads, selects columns, orders them (S: the target only; MS: the target moved last, as TSLib's
/// custom loader does), splits, fits the scaler and standardises (prepare_forecast_data).
/// Future covariates follow the variates (named columns, then calendar features "calendar:<name>").
/// Own files are read with skip_non_numeric (text columns such as ids are left out and reported)
/// and require_increasing. Errors: DataError naming the file, line and column (unknown target,
/// too few rows for a window in some split, dates outside the data, ...).
LoadedSeries load_forecast_source(const ForecastSource& source, std::int64_t seq_len, std::int64_t pred_len);

}  // namespace mmx::data
