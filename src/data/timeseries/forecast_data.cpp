// prepare_forecast_data / load_forecast_data: the TSLib loading pipeline (read, split,
// fit the scaler on train, window) in one place.
#include "mmx/data/timeseries/forecast_data.h"

#include <cmath>

#include "mmx/data/error.h"

namespace mmx::data {

ForecastData prepare_forecast_data(TimeSeriesTable table, SplitKind kind, std::int64_t seq_len, std::int64_t pred_len) {
  const SplitRanges splits = split_ranges(kind, table.n_rows(), seq_len);
  ForecastData d = prepare_forecast_data(std::move(table), splits, seq_len, pred_len);
  d.split_kind = kind;
  return d;
}

ForecastData prepare_forecast_data(TimeSeriesTable table, const SplitRanges& splits, std::int64_t seq_len,
                                   std::int64_t pred_len) {
  ForecastData d;
  d.splits = splits;
  d.seq_len = seq_len;
  d.pred_len = pred_len;
  const std::pair<const char*, RowRange> parts[] = {
      {"train", d.splits.train}, {"val", d.splits.val}, {"test", d.splits.test}};
  for (const auto& [what, r] : parts) {
    if (window_count(r, seq_len, pred_len) < 1) {
      throw DataError(
          table.source, 0, "",
          std::string(what) + " split rows [" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ") of " +
              std::to_string(table.n_rows()) + " hold no window; expected at least seq_len + pred_len = " +
              std::to_string(seq_len + pred_len) + " rows (a shorter data.seq_len or data.pred_len, or another split)");
    }
  }
  d.scaler = StandardScaler::fit(table.values.narrow(0, d.splits.train.begin, d.splits.train.size()));
  const auto sd = d.scaler.std.accessor<double, 1>();
  for (std::int64_t j = 0; j < table.n_vars(); ++j) {
    if (!std::isfinite(sd[j]) || !(sd[j] > 0)) {
      throw DataError(table.source, 0, table.columns[static_cast<size_t>(j)],
                      "standard deviation " + format_value(sd[j]) +
                          " on the training rows; expected a finite positive spread (rescale the column)");
    }
  }
  d.scaled = d.scaler.transform(table.values).to(torch::kFloat32).contiguous();
  const torch::Tensor bad = d.scaled.isfinite().logical_not();
  if (bad.any().item<bool>()) {
    const torch::Tensor where = bad.nonzero()[0];
    const std::int64_t row = where[0].item<std::int64_t>(), col = where[1].item<std::int64_t>();
    const std::int64_t line =
        row < static_cast<std::int64_t>(table.lines.size()) ? table.lines[static_cast<size_t>(row)] : 0;
    throw DataError(table.source, line, table.columns[static_cast<size_t>(col)],
                    "value " + format_value(table.values[row][col].item<double>()) +
                        " is too far from the training rows' mean to standardise in float32 (mean " +
                        format_value(d.scaler.mean[col].item<double>()) + ", deviation " +
                        format_value(d.scaler.std[col].item<double>()) +
                        "); expected values on the training rows' scale");
  }
  d.table = std::move(table);
  return d;
}

ForecastData load_forecast_data(const std::string& name, std::int64_t seq_len, std::int64_t pred_len,
                                const std::string& data_root, const CsvReadOptions& options) {
  const DatasetInfo& info = find_dataset(name);
  return prepare_forecast_data(read_csv(dataset_path(info, data_root), options), info.split, seq_len, pred_len);
}

}  // namespace mmx::data
