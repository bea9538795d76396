// One call from a data set name to scaled train/val/test windows: the Time-Series-Library protocol
// (thuml/Time-Series-Library data_provider/data_loader.py) at the paper's look-back (§6.4).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "mmx/data/timeseries/csv_reader.h"
#include "mmx/data/timeseries/registry.h"
#include "mmx/data/timeseries/splits.h"
#include "mmx/data/timeseries/windows.h"

namespace mmx::data {

/// A table prepared for forecasting: splits, a scaler fitted on the training rows, the
/// standardised series and the three window sets.
struct ForecastData {
  TimeSeriesTable table;                     ///< as read, original units
  SplitKind split_kind = SplitKind::kRatio;  ///< the rule of a registered data set
  SplitRanges splits;                        ///< see split_ranges / split_ranges_by_counts
  StandardScaler scaler;                     ///< fitted on table rows splits.train only
  torch::Tensor scaled;                      ///< (n_rows, M) float32: scaler.transform(table.values)
  std::int64_t seq_len = 0, pred_len = 0;
  /// The last n_future columns are future covariates (inputs known over the horizon), not
  /// variates; set by load_forecast_source.
  std::int64_t n_future = 0;

  WindowDataset train() const { return {scaled, splits.train, seq_len, pred_len}; }
  WindowDataset val() const { return {scaled, splits.val, seq_len, pred_len}; }
  WindowDataset test() const { return {scaled, splits.test, seq_len, pred_len}; }
  std::int64_t n_vars() const { return table.n_vars(); }
  /// The variates: the columns before the future covariates.
  std::int64_t n_targets() const { return table.n_vars() - n_future; }
};

/// Splits `table` by `kind`, fits the scaler on the training rows and standardises all rows.
/// Errors: DataError from split_ranges, when a split holds no window of seq_len + pred_len, or
/// when a column's training deviation is zero or not finite (it names the column) or a
/// standardised value does not fit float32 (it names the column and the line).
ForecastData prepare_forecast_data(TimeSeriesTable table, SplitKind kind, std::int64_t seq_len, std::int64_t pred_len);
/// The same with the split given as row ranges (split_ranges_by_counts).
ForecastData prepare_forecast_data(TimeSeriesTable table, const SplitRanges& splits, std::int64_t seq_len,
                                   std::int64_t pred_len);

/// find_dataset(name) -> dataset_path(info, data_root) -> read_csv -> prepare_forecast_data.
/// Errors: DataError from each step (unknown name, missing file, bad CSV, short table).
ForecastData load_forecast_data(const std::string& name, std::int64_t seq_len, std::int64_t pred_len,
                                const std::string& data_root, const CsvReadOptions& options = {});

}  // namespace mmx::data
