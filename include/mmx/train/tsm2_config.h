// Experiment configuration of TSM2 training: one TOML file with [data], [model], [train] tables,
// overridable from the command line with `--set section.key=value`, read by the key-table
// machinery both models share (src/train/config_value.h). Unknown keys are errors that name the
// key and the closest valid one. The resolved configuration is written to every run directory and
// stored in every checkpoint, so a run can be repeated exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mmx/data/timeseries/forecast_source.h"
#include "mmx/models/tsm2.h"
#include "mmx/train/config_error.h"

namespace mmx::train {

/// [data]: which series and which window protocol (the long-term forecasting benchmarks of
/// arXiv 2403.19888 Table 5, split as TSLib does). Exactly one of `dataset` (a benchmark, read and
/// split as the paper does) and `path` (a CSV of one's own) is set.
struct DataConfig {
  std::string dataset;    ///< registry name (ETTh1, ..., Weather, Exchange, ILI, ...)
  std::string data_root;  ///< "" = $MMX_DATA_ROOT or ../shared/data
  /// A CSV of one's own: relative to the config file's folder (from --set or --data: to the
  /// working directory); stored resolved to an absolute path.
  std::string path;
  std::string date_column;           ///< "" = the column named date/datetime/timestamp/time/ds, else the first
  std::vector<std::string> columns;  ///< variates to use; empty = every numeric column
  std::string features = "M";        ///< M | S | MS (TSLib): all variates, the target alone, all in / target out
  std::string target = "OT";         ///< the target column of S and MS
  std::vector<double> split = {0.7, 0.1, 0.2};  ///< own files: train/val/test fractions of the rows
  std::string val_start;                        ///< own files: split by dates instead (both set): first val timestamp
  std::string test_start;                       ///< ... and first test timestamp
  std::string freq;                             ///< time step ("1h", "1d", "1mo", ...); "" = inferred
  int64_t seq_len = 512;                        ///< lookback L
  int64_t pred_len = 96;                        ///< horizon H
  std::string fill = "error";                   ///< empty/NaN cells: error | ffill | zero
  /// Columns known over the horizon (MambaMixer §5.5's future covariates Z): inputs, not forecast.
  std::vector<std::string> future_covariates;
  /// Calendar features as built-in future covariates: minute, hour, day_of_week, day_of_month,
  /// day_of_year, month.
  std::vector<std::string> calendar;
};

/// [train]: optimisation: AdamW with the no-decay groups, warm-up + cosine schedule, gradient
/// clipping, early stopping on validation MSE. arXiv 2403.19888 states no TSM2 training recipe;
/// the defaults are ours.
struct OptimConfig {
  int64_t epochs = 15;
  int64_t batch_size = 128;
  int64_t eval_batch_size = 512;
  double lr = 1e-4;
  double min_lr = 1e-6;        ///< cosine decay floor
  double weight_decay = 0.01;  ///< AdamW; never on norms, biases, A_log, D, averaging scalars
  double warmup_epochs = 0.0;  ///< linear warm-up length (fractions allowed)
  double clip_grad = 1.0;      ///< max global gradient norm (0 = off)
  int64_t patience = 5;        ///< early stopping on validation MSE (0 = off)
  int64_t seed = 2024;
  int64_t threads = 0;             ///< CPU threads (0 = LibTorch default)
  std::string device = "cpu";      ///< cpu | cuda
  std::string precision = "fp32";  ///< fp32 | bf16 (autocast on CUDA; the scan state stays fp32)
  /// Replay each training step from a CUDA graph (device cuda only; mmx/train/tsm2_train_step.h).
  bool cuda_graph = false;
  int64_t max_batches_per_epoch = 0;  ///< 0 = all training windows each epoch
  double time_budget_minutes = 0.0;   ///< stop training after this much wall time (0 = none)
};

/// The whole experiment.
struct TrainConfig {
  DataConfig data;
  models::TSM2Options model;  ///< seq_len, pred_len, n_vars are filled from [data] and the table
  OptimConfig train;
};

/// Reads a TOML file, then applies `overrides` ("section.key=value"). Throws ConfigError naming
/// the file, the key and (for unknown keys) the closest valid key, or a value out of its range
/// (docs/data.md "Limits": model sizes are bounded unless MMX_ALLOW_LARGE_MODELS=1).
TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});
/// Parses TOML text (`source` names it in errors). A relative data.path from the text is resolved
/// against `base_dir` ("" = the working directory), one from `overrides` against the working
/// directory.
TrainConfig parse_config(const std::string& toml_text, const std::string& source,
                         const std::vector<std::string>& overrides = {}, const std::string& base_dir = "");

/// The largest parameter count a config may ask for without MMX_ALLOW_LARGE_MODELS=1.
constexpr double kMaxModelParams = 2e9;
/// Throws ConfigError "<what>: the [model] settings ask for about N parameters ..." when
/// models::tsm2_parameter_count(o) (computed from the shapes, before any model is built) exceeds
/// kMaxModelParams and MMX_ALLOW_LARGE_MODELS is not "1".
void check_model_size(const models::TSM2Options& o, const std::string& what);
/// The resolved configuration as TOML (every key, including defaults).
std::string to_toml(const TrainConfig& config);
/// Every valid key, "section.key".
std::vector<std::string> config_keys();
/// The data source a config names: a registered benchmark or an own CSV, with its [data] options.
data::ForecastSource forecast_source(const TrainConfig& config);

}  // namespace mmx::train
