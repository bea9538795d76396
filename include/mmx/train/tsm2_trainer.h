// TSM2 training under the long-term forecasting protocol of arXiv 2403.19888 (Table 5, TSLib
// splits): AdamW with no-decay groups, warm-up + cosine schedule, gradient clipping, early stopping
// on validation MSE that restores the best weights, a run directory (resolved config, log, metrics
// JSON / CSV, safetensors checkpoints written atomically) and resumable training. An orchestration
// of the shared training parts: tsm2_train_step.h, lr_schedule.h, run_records.h, run_dir.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mmx/train/run_dir.h"
#include "mmx/train/tsm2_checkpoint.h"
#include "mmx/train/tsm2_config.h"
#include "mmx/train/tsm2_eval.h"

namespace mmx::train {

/// Hooks of a TSM2 run: log lines, the progress bar, a stop after an epoch (tests).
using TrainHooks = RunHooks;

/// One epoch of a TSM2 run (a row of metrics.csv). train_loss: mean training MSE of the epoch's
/// windows; val_mse / val_mae: validation metrics in the standardised space; lr: the rate of the
/// epoch's last step; seconds: wall time of the epoch, validation included; windows_per_second:
/// training windows per second of training time.
struct EpochRecord {
  int64_t epoch = 0;
  double train_loss = 0, val_mse = 0, val_mae = 0, lr = 0, seconds = 0, windows_per_second = 0;
};

/// What train_tsm2 returns. best_val_mse: the lowest validation MSE of the run; test: the best
/// epoch's weights on every test window; train_seconds: wall time of this call (a resume starts
/// from 0); history: every epoch of the run, resumed ones included; n_params: trainable scalars.
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

}  // namespace mmx::train
