// split_ranges, window_count, StandardScaler (TSLib data_provider/data_loader.py: its borders and
// its scaler fit on the train split).
#include "mmx/data/timeseries/splits.h"

#include "mmx/data/error.h"

namespace mmx::data {
namespace {

constexpr std::int64_t kEttHourTrain = 12 * 30 * 24;  // 8640 rows: 12 months of 30 days
constexpr std::int64_t kEttHourVal = 4 * 30 * 24;     // 2880 rows: 4 months
constexpr std::int64_t kEttHourTest = 4 * 30 * 24;    // 2880 rows: 4 months

void check_width(const StandardScaler& s, const torch::Tensor& x, const char* what) {
  if (!s.mean.defined()) throw DataError(std::string("StandardScaler::") + what + ": scaler not fitted");
  if (x.dim() < 1 || x.size(-1) != s.n_vars()) {
    throw DataError(std::string("StandardScaler::") + what + ": input of shape " + c10::str(x.sizes()) +
                    "; expected (..., " + std::to_string(s.n_vars()) + ") (last dimension = variates)");
  }
}

}  // namespace

SplitRanges split_ranges(SplitKind kind, std::int64_t n_rows, std::int64_t seq_len) {
  if (seq_len < 1) {
    throw DataError("split_ranges: seq_len " + std::to_string(seq_len) + "; expected >= 1");
  }
  std::int64_t n_train = 0, n_val = 0, n_test = 0;
  if (kind == SplitKind::kRatio) {
    n_train = static_cast<std::int64_t>(static_cast<double>(n_rows) * 0.7);
    n_test = static_cast<std::int64_t>(static_cast<double>(n_rows) * 0.2);
    n_val = n_rows - n_train - n_test;
    if (seq_len <= n_train) return split_ranges_by_counts(n_rows, seq_len, n_train, n_test);
  } else {
    const std::int64_t scale = kind == SplitKind::kEttMinute ? 4 : 1;
    n_train = kEttHourTrain * scale;
    n_val = kEttHourVal * scale;
    n_test = kEttHourTest * scale;
    if (n_rows < n_train + n_val + n_test) {
      throw DataError("split_ranges(" + to_string(kind) + "): table has " + std::to_string(n_rows) +
                      " rows; expected at least " + std::to_string(n_train + n_val + n_test) + " (12/4/4 months)");
    }
  }
  SplitRanges s;
  s.train = {0, n_train};
  s.val = {n_train - seq_len, n_train + n_val};
  s.test = {n_train + n_val - seq_len, n_train + n_val + n_test};
  if (s.val.begin < 0) {
    throw DataError("split_ranges(" + to_string(kind) + "): seq_len " + std::to_string(seq_len) +
                    " is longer than the training split (" + std::to_string(n_train) + " rows of " +
                    std::to_string(n_rows) + "); expected seq_len <= " + std::to_string(n_train));
  }
  return s;
}

SplitRanges split_ranges_by_counts(std::int64_t n_rows, std::int64_t seq_len, std::int64_t n_train,
                                   std::int64_t n_test) {
  if (seq_len < 1) throw DataError("split_ranges: seq_len " + std::to_string(seq_len) + "; expected >= 1");
  if (n_train < 0 || n_test < 0 || n_train + n_test > n_rows) {
    throw DataError("split_ranges: " + std::to_string(n_train) + " training and " + std::to_string(n_test) +
                    " test rows of " + std::to_string(n_rows) + "; expected non-negative counts that fit the table");
  }
  if (seq_len > n_train) {
    throw DataError("split_ranges: seq_len " + std::to_string(seq_len) + " is longer than the training split (" +
                    std::to_string(n_train) + " rows of " + std::to_string(n_rows) + "); expected seq_len <= " +
                    std::to_string(n_train) + " (a shorter data.seq_len, or more training rows)");
  }
  SplitRanges s;
  s.train = {0, n_train};
  s.val = {n_train - seq_len, n_rows - n_test};
  s.test = {n_rows - n_test - seq_len, n_rows};
  return s;
}

std::int64_t window_count(const RowRange& rows, std::int64_t seq_len, std::int64_t pred_len) {
  const std::int64_t n = rows.size() - seq_len - pred_len + 1;
  return n > 0 ? n : 0;
}

StandardScaler StandardScaler::fit(const torch::Tensor& values) {
  if (!values.defined() || values.dim() != 2 || values.size(0) < 1) {
    throw DataError("StandardScaler::fit: values of shape " +
                    (values.defined() ? c10::str(values.sizes()) : std::string("(undefined)")) +
                    "; expected (rows >= 1, n_vars)");
  }
  const torch::Tensor v = values.to(torch::kCPU, torch::kFloat64);
  // Scaled two-pass: u = v / 2^ceil(log2 max|v|) lies in [-1, 1], so neither the sum nor the
  // squares overflow, and tiny columns are lifted to magnitude ~1 before squaring. A power of two
  // scales exactly: for ordinary data the results are bitwise those of the unscaled passes.
  const torch::Tensor amax = v.abs().amax(0);
  const torch::Tensor scale =
      torch::where(amax > 0, torch::exp2(torch::ceil(torch::log2(amax)).clamp(-1022, 1023)), torch::ones_like(amax));
  const torch::Tensor u = v / scale;
  const torch::Tensor mu = u.mean(0);
  const torch::Tensor sd = (u - mu).pow(2).mean(0).sqrt() * scale;
  StandardScaler s;
  s.mean = mu * scale;
  const torch::Tensor constant = v.amax(0) == v.amin(0);
  s.std = torch::where(constant, torch::ones_like(sd), sd);
  return s;
}

torch::Tensor StandardScaler::transform(const torch::Tensor& x) const {
  check_width(*this, x, "transform");
  const auto dtype = x.is_floating_point() ? x.scalar_type() : torch::kFloat64;
  const auto opts = torch::TensorOptions().device(x.device()).dtype(torch::kFloat64);
  return ((x.to(torch::kFloat64) - mean.to(opts)) / std.to(opts)).to(dtype);
}

torch::Tensor StandardScaler::inverse_transform(const torch::Tensor& x) const {
  check_width(*this, x, "inverse_transform");
  const auto dtype = x.is_floating_point() ? x.scalar_type() : torch::kFloat64;
  const auto opts = torch::TensorOptions().device(x.device()).dtype(torch::kFloat64);
  return (x.to(torch::kFloat64) * std.to(opts) + mean.to(opts)).to(dtype);
}

}  // namespace mmx::data
