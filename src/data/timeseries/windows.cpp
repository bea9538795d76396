// WindowDataset: gathers stride-1 windows by index (one index_select per batch, no copies of the
// series per window); batch_indices / for_each_batch keep the last partial batch.
#include "mmx/data/timeseries/windows.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "mmx/data/error.h"

namespace mmx::data {

WindowDataset::WindowDataset(torch::Tensor series, RowRange rows, std::int64_t seq_len, std::int64_t pred_len)
    : rows_(rows), seq_len_(seq_len), pred_len_(pred_len) {
  if (!series.defined() || series.dim() != 2) {
    throw DataError("WindowDataset: series must be (n_rows, M); got " +
                    (series.defined() ? c10::str(series.sizes()) : std::string("(undefined)")));
  }
  if (seq_len < 1 || pred_len < 1) {
    throw DataError("WindowDataset: seq_len " + std::to_string(seq_len) + ", pred_len " + std::to_string(pred_len) +
                    "; expected both >= 1");
  }
  if (rows.begin < 0 || rows.end > series.size(0) || rows.begin > rows.end) {
    throw DataError("WindowDataset: rows [" + std::to_string(rows.begin) + ", " + std::to_string(rows.end) +
                    ") outside the series of " + std::to_string(series.size(0)) + " rows");
  }
  size_ = window_count(rows, seq_len, pred_len);
  if (size_ < 1) {
    throw DataError("WindowDataset: split rows [" + std::to_string(rows.begin) + ", " + std::to_string(rows.end) +
                    ") hold " + std::to_string(rows.size()) + " rows; expected at least seq_len + pred_len = " +
                    std::to_string(seq_len + pred_len) + " for one window");
  }
  series_ = series.to(torch::kCPU, torch::kFloat32).contiguous();
}

WindowBatch WindowDataset::batch(const std::vector<std::int64_t>& indices) const {
  if (indices.empty()) throw DataError("WindowDataset::batch: empty index list; expected >= 1 index");
  for (std::int64_t i : indices) {
    if (i < 0 || i >= size_) {
      throw DataError("WindowDataset::batch: window index " + std::to_string(i) +
                      " out of range; expected 0 <= index < " + std::to_string(size_));
    }
  }
  const auto b = static_cast<std::int64_t>(indices.size());
  const std::int64_t span = seq_len_ + pred_len_;
  const auto starts = torch::tensor(indices, torch::kInt64).add_(rows_.begin);
  const auto rows = (starts.unsqueeze(1) + torch::arange(span, torch::kInt64).unsqueeze(0)).reshape({-1});
  const auto w = series_.index_select(0, rows).view({b, span, series_.size(1)});
  WindowBatch out;
  out.x = w.narrow(1, 0, seq_len_).contiguous();
  out.y = w.narrow(1, seq_len_, pred_len_).contiguous();
  out.indices = indices;
  return out;
}

std::vector<std::vector<std::int64_t>> batch_indices(std::int64_t n, std::int64_t batch_size, bool shuffle,
                                                     std::uint64_t seed) {
  if (n < 0 || batch_size < 1) {
    throw DataError("batch_indices: n " + std::to_string(n) + ", batch_size " + std::to_string(batch_size) +
                    "; expected n >= 0 and batch_size >= 1");
  }
  std::vector<std::int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle) {
    std::mt19937_64 rng(seed);
    std::shuffle(order.begin(), order.end(), rng);
  }
  std::vector<std::vector<std::int64_t>> out;
  for (std::int64_t i = 0; i < n; i += batch_size) {
    const std::int64_t e = std::min(n, i + batch_size);
    out.emplace_back(order.begin() + i, order.begin() + e);
  }
  return out;
}

std::int64_t for_each_batch(const WindowDataset& dataset, std::int64_t batch_size,
                            const std::function<void(const WindowBatch&)>& fn) {
  std::int64_t seen = 0;
  for (const auto& idx : batch_indices(dataset.size(), batch_size)) {
    fn(dataset.batch(idx));
    seen += static_cast<std::int64_t>(idx.size());
  }
  return seen;
}

}  // namespace mmx::data
