// The forecasting benchmarks by name: where their CSV lives under the data root (TSLib
// `dataset/` layout), which split rule they use, and their time step.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mmx::data {

/// Which split rule of TSLib's data_provider/data_loader.py a data set uses (Dataset_ETT_hour,
/// Dataset_ETT_minute, Dataset_Custom).
enum class SplitKind {
  kEttHour,    ///< ETTh*: train [0, 8640), val [8640, 11520), test [11520, 14400) (12/4/4 months)
  kEttMinute,  ///< ETTm*: the same months at 15 minutes, i.e. 4x those rows
  kRatio,      ///< all others: first int(0.7 n) train, last int(0.2 n) test, the rest val
};

std::string to_string(SplitKind kind);

/// One benchmark data set.
struct DatasetInfo {
  std::string name;           ///< registry name: "ETTh1", "Weather", ...
  std::string relative_path;  ///< path under the data root: "ETT-small/ETTh1.csv"
  SplitKind split = SplitKind::kRatio;
  std::string freq;               ///< time step in words: "1h", "15min", "10min", "1d", "1w"
  std::int64_t step_seconds = 0;  ///< the same in seconds
  std::int64_t n_vars = 0;        ///< variates (columns after `date`)
  std::int64_t n_rows = 0;        ///< data rows of the full file (the TSLib dataset/ CSVs)
};

/// All registered data sets: ETTh1, ETTh2, ETTm1, ETTm2, Weather, Exchange, ILI, Electricity,
/// Traffic (in that order).
const std::vector<DatasetInfo>& dataset_registry();

/// Looks a data set up by name, ignoring case ("etth1" finds ETTh1).
/// Errors: DataError "unknown data set 'ETTh3'; did you mean 'ETTh1'? (valid: ...)", the
/// suggestion being the registered name at the smallest edit distance.
const DatasetInfo& find_dataset(std::string_view name);

/// The folder of the data shipped inside this repository (`<source dir>/data`), holding
/// ETTh1.csv (unmodified, CC BY-ND 4.0, see data/LICENSE-ETT.md).
std::string embedded_data_dir();

/// Full path of a data set's CSV: `<data_root>/<relative_path>` when that file exists; for ETTh1
/// the embedded copy `<embedded_data_dir()>/ETTh1.csv` when the data root lacks it.
/// Errors: DataError naming the path looked at and the data root (set by $MMX_DATA_ROOT).
/// Electricity and Traffic name the full TSLib files, which this project's shared data lacks
/// (only excerpts: electricity/electricity_first55rows.csv, traffic/traffic_first25rows.csv).
std::string dataset_path(const DatasetInfo& info, const std::string& data_root);
/// dataset_path with mmx::default_data_root().
std::string dataset_path(const DatasetInfo& info);

}  // namespace mmx::data
