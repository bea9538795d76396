// prepare_forecast_data / load_forecast_data: the §5.1 pipeline in one place.
#include "mmx/data/forecast_data.h"

#include "mmx/data/error.h"

namespace mmx::data {

ForecastData prepare_forecast_data(TimeSeriesTable table, SplitKind kind, std::int64_t seq_len,
                                   std::int64_t pred_len) {
  ForecastData d;
  d.splits = split_ranges(kind, table.n_rows(), seq_len);
  d.split_kind = kind;
  d.seq_len = seq_len;
  d.pred_len = pred_len;
  const std::pair<const char*, RowRange> parts[] = {
      {"train", d.splits.train}, {"val", d.splits.val}, {"test", d.splits.test}};
  for (const auto& [what, r] : parts) {
    if (window_count(r, seq_len, pred_len) < 1) {
      throw DataError(table.source, 0, "",
                      std::string(what) + " split rows [" + std::to_string(r.begin) + ", " +
                          std::to_string(r.end) + ") of " + std::to_string(table.n_rows()) +
                          " hold no window; expected at least seq_len + pred_len = " +
                          std::to_string(seq_len + pred_len) + " rows");
    }
  }
  d.scaler = StandardScaler::fit(table.values.narrow(0, d.splits.train.begin, d.splits.train.size()));
  d.scaled = d.scaler.transform(table.values).to(torch::kFloat32).contiguous();
  d.table = std::move(table);
  return d;
}

ForecastData load_forecast_data(const std::string& name, std::int64_t seq_len,
                                std::int64_t pred_len, const std::string& data_root,
                                const CsvReadOptions& options) {
  const DatasetInfo& info = find_dataset(name);
  return prepare_forecast_data(read_csv(dataset_path(info, data_root), options), info.split,
                               seq_len, pred_len);
}

}  // namespace mmx::data
