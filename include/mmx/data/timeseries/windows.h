// Stride-1 forecasting windows over one split and their batches: every window of seq_len + pred_len
// rows (paper §6.4: stride 1; TSLib data_loader.py __len__). Evaluation keeps the last partial
// batch: TSLib's test loader dropped it (drop_last=True in data_provider/data_factory.py, reported
// by Qiu et al., TFB, PVLDB 2024, and in the FITS bug reports; fixed upstream with drop_last=False).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "mmx/data/timeseries/splits.h"

namespace mmx::data {

/// One batch of windows.
struct WindowBatch {
  torch::Tensor x;                    ///< (B, seq_len, M) float32: the lookback
  torch::Tensor y;                    ///< (B, pred_len, M) float32: the targets that follow
  std::vector<std::int64_t> indices;  ///< window indices within the dataset, B of them
};

/// The windows of one split: window i covers rows [rows.begin + i, rows.begin + i + seq_len +
/// pred_len) of `series`; its input is the first seq_len rows, its target the last pred_len.
/// size() = rows.size() - seq_len - pred_len + 1. A float32, contiguous CPU series (such as
/// ForecastData::scaled) is shared, not copied; any other is converted once.
class WindowDataset {
 public:
  /// series: (n_rows, M), the standardised table (float32 CPU expected; other dtypes/devices are
  /// converted); rows: the split's range.
  /// Errors: DataError when seq_len or pred_len < 1, rows lie outside the series, or the range
  /// holds no window (rows.size() < seq_len + pred_len).
  WindowDataset(torch::Tensor series, RowRange rows, std::int64_t seq_len, std::int64_t pred_len);

  std::int64_t size() const { return size_; }
  std::int64_t seq_len() const { return seq_len_; }
  std::int64_t pred_len() const { return pred_len_; }
  std::int64_t n_vars() const { return series_.size(1); }
  RowRange rows() const { return rows_; }
  /// Table row of window i's first input step (rows.begin + i); its first target row is that
  /// plus seq_len.
  std::int64_t window_row(std::int64_t i) const { return rows_.begin + i; }

  /// Gathers the windows `indices` (any order, repeats allowed) into x (B, seq_len, M) and
  /// y (B, pred_len, M), float32, CPU. Errors: DataError for an empty list or an index outside
  /// [0, size()).
  WindowBatch batch(const std::vector<std::int64_t>& indices) const;

 private:
  torch::Tensor series_;
  RowRange rows_;
  std::int64_t seq_len_ = 0, pred_len_ = 0, size_ = 0;
};

/// Window indices 0..n-1 cut into batches of batch_size, in order or shuffled (a fixed
/// permutation from `seed`); the last batch holds the remainder and is never dropped, so every
/// window appears exactly once. Errors: DataError for n < 0 or batch_size < 1.
std::vector<std::vector<std::int64_t>> batch_indices(std::int64_t n, std::int64_t batch_size, bool shuffle = false,
                                                     std::uint64_t seed = 0);

/// Calls fn on every window of `dataset` in order, batch_size at a time, the last partial batch
/// included (evaluation protocol: all windows, drop_last = false). Returns the number of windows
/// visited (= dataset.size()).
std::int64_t for_each_batch(const WindowDataset& dataset, std::int64_t batch_size,
                            const std::function<void(const WindowBatch&)>& fn);

}  // namespace mmx::data
