// Train/val/test row ranges and the standard scaler of the forecasting protocol
// (thuml/Time-Series-Library data_provider/data_loader.py: Dataset_ETT_hour / Dataset_ETT_minute
// borders of 12/4/4 months, Dataset_Custom ratios 0.7/0.1/0.2, scaler fit on the train split).
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "mmx/data/timeseries/registry.h"

namespace mmx::data {

/// Rows [begin, end) of a table.
struct RowRange {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t size() const { return end - begin; }
  bool operator==(const RowRange&) const = default;
};

/// The three splits. val and test start seq_len rows before their border so that the first
/// window's first target is the border row; train starts at row 0.
struct SplitRanges {
  RowRange train, val, test;
};

/// Row ranges of the splits for a table of n_rows rows and lookback seq_len:
///   kEttHour:   train [0, 8640), val [8640 - seq_len, 11520), test [11520 - seq_len, 14400)
///   kEttMinute: train [0, 34560), val [34560 - seq_len, 46080), test [46080 - seq_len, 57600)
///   kRatio:     n_train = int(0.7 n), n_test = int(0.2 n), n_val = n - n_train - n_test;
///               train [0, n_train), val [n_train - seq_len, n - n_test),
///               test [n - n_test - seq_len, n)
/// (int() truncates n * 0.7 computed in double, as Python does.) ETT rows after 14400 / 57600
/// are unused. Errors: DataError when seq_len < 1, when n_rows is shorter than the ETT test end,
/// or when a split border minus seq_len would be negative.
SplitRanges split_ranges(SplitKind kind, std::int64_t n_rows, std::int64_t seq_len);

/// Row ranges for a table whose first n_train rows train and whose last n_test rows test, the
/// rows between validating (kRatio with counts instead of 70/20 %; user data split by ratios or
/// dates). Errors: DataError when seq_len < 1, a count is negative, n_train + n_test > n_rows or
/// seq_len > n_train.
SplitRanges split_ranges_by_counts(std::int64_t n_rows, std::int64_t seq_len, std::int64_t n_train,
                                   std::int64_t n_test);

/// Number of stride-1 windows of seq_len + pred_len rows in a range:
/// rows - seq_len - pred_len + 1, or 0 when the range is too short.
std::int64_t window_count(const RowRange& rows, std::int64_t seq_len, std::int64_t pred_len);

/// Per-variate standardisation, as sklearn.preprocessing.StandardScaler: mean and population
/// standard deviation (ddof = 0) per column, fitted on the training rows only; a column that is
/// constant on those rows gets std 1 (sklearn's zero-variance rule), so it maps to 0. fit scales
/// each column by its largest magnitude before the two passes (mean, then squared deviations), so
/// values near 1e300 do not overflow and values near 1e-300 do not underflow to a zero deviation.
struct StandardScaler {
  torch::Tensor mean;  ///< (n_vars) float64, original units
  torch::Tensor std;   ///< (n_vars) float64, original units, > 0

  /// Fits on `values` (rows, n_vars), any floating dtype (computed in float64).
  /// Errors: DataError when values is not 2-D or has no rows.
  static StandardScaler fit(const torch::Tensor& values);

  /// (x - mean) / std over the last dimension; x is (..., n_vars), result has x's dtype and
  /// device (arithmetic in float64). Errors: DataError when the last dimension is not n_vars.
  torch::Tensor transform(const torch::Tensor& x) const;
  /// x * std + mean: standardised values back to original units; same shapes and errors.
  torch::Tensor inverse_transform(const torch::Tensor& x) const;
  std::int64_t n_vars() const { return mean.defined() ? mean.size(0) : 0; }
};

}  // namespace mmx::data
