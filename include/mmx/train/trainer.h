// TSM2 training and evaluation under the forecasting protocol of paper-spec §5.1/§5.4: AdamW with
// no-decay groups, cosine schedule with optional warm-up, gradient clipping, early stopping on
// validation MSE that restores the best weights, a run directory (resolved config, log, metrics
// JSON, safetensors checkpoints written atomically) and resumable training.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mmx/data/forecast_data.h"
#include "mmx/data/forecast_source.h"
#include "mmx/models/tsm2.h"
#include "mmx/train/config.h"

namespace mmx::train {

/// Test/validation metrics. mse/mae: means over windows x horizon x variates in the standardised
/// space (the paper's protocol); *_orig: the same in original units (NaN unless asked).
struct EvalMetrics {
  double mse = 0.0, mae = 0.0;
  int64_t windows = 0;                  ///< every window of the split, none dropped
  std::vector<double> mse_per_step;     ///< (pred_len) per horizon step
  std::vector<double> mae_per_step;
  double mse_orig = std::numeric_limits<double>::quiet_NaN();
  double mae_orig = std::numeric_limits<double>::quiet_NaN();
};

/// Evaluates `model` on every window of `windows` in order, batch_size at a time (the last partial
/// batch included). With `scaler`, also reports metrics in original units. With `target_channel`
/// >= 0 (TSLib's "MS" features) only that variate is scored.
EvalMetrics evaluate(models::TSM2& model, const data::WindowDataset& windows, int64_t batch_size,
                     torch::Device device, const data::StandardScaler* scaler = nullptr,
                     int64_t target_channel = -1);

/// The data source a config names: a registered benchmark or an own CSV, with its [data] options.
data::ForecastSource forecast_source(const TrainConfig& config);

/// Hooks for the caller (the CLI): log lines and whether to draw a progress bar on stderr.
struct TrainHooks {
  std::function<void(const std::string&)> log;  ///< receives every log line (also written to train.log)
  bool progress_bar = true;
  /// Stop (as if interrupted) after this epoch; 0 = never. For tests of resuming.
  int64_t stop_after_epoch = 0;
};

struct EpochRecord {
  int64_t epoch = 0;
  double train_loss = 0, val_mse = 0, val_mae = 0, lr = 0, seconds = 0, windows_per_second = 0;
};

struct TrainResult {
  std::string run_dir;
  int64_t epochs_run = 0, best_epoch = 0;
  double best_val_mse = 0;
  bool stopped_early = false, out_of_time = false;
  EvalMetrics test;
  double train_seconds = 0;
  std::vector<EpochRecord> history;
  int64_t n_params = 0;
};

/// Trains TSM2 as `config` says, writing run_dir/{config.toml, train.log, metrics.json,
/// metrics.csv, best.safetensors, last.safetensors}. With `resume`, continues the run in run_dir
/// from its last.safetensors (the stored config must match `config` in [data] and [model]; the
/// epoch history is rebuilt from the checkpoint, so a kill at any write loses nothing). The folder
/// is locked while training; nothing in it is written before the data and model are ready.
/// Errors: data::DataError, ConfigError (also a model above kMaxModelParams), CheckpointError,
/// std::runtime_error (folder in use; divergence: a non-finite loss, naming the epoch and step,
/// or non-finite validation/test metrics, never written), c10::Error (bad shapes, no CUDA).
TrainResult train_tsm2(const TrainConfig& config, const std::string& run_dir, bool resume,
                       const TrainHooks& hooks = {});

/// A trained forecaster loaded from a checkpoint written by train_tsm2.
struct LoadedForecaster {
  TrainConfig config;
  models::TSM2 model{nullptr};
  data::StandardScaler scaler;
  std::vector<std::string> columns;
  std::string date_column;
  int64_t target_index = -1;  ///< S / MS: the target's index in columns (the forecast's column)
  data::Frequency freq;       ///< the training data's step (zero in checkpoints older than it)
};

/// Loads `path` (best.safetensors or last.safetensors of a run). Errors: CheckpointError naming
/// the file (missing, truncated, tensors of another shape) or ConfigError for its stored config.
LoadedForecaster load_forecaster(const std::string& path, torch::Device device = torch::kCPU);

}  // namespace mmx::train
