// ViM2 image classification training with the ImageNet-1K recipe of VMamba / Swin that
// arXiv 2403.19888 follows (Table 2): AdamW with no-decay groups, linear warm-up + cosine per step,
// gradient clipping, bf16 autocast on CUDA, batched augmentation with Mixup/CutMix and label
// smoothing, model EMA; a run directory (resolved config, log, metrics CSV/JSON against wall-clock
// time, safetensors checkpoints written atomically) and bitwise resumable training. An
// orchestration of the shared training parts: vim2_train_step.h, lr_schedule.h, ema.h,
// run_records.h, run_dir.h.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mmx/data/images/image_dataset.h"
#include "mmx/train/run_dir.h"
#include "mmx/train/vim2_checkpoint.h"
#include "mmx/train/vim2_config.h"
#include "mmx/train/vim2_data.h"
#include "mmx/train/vim2_eval.h"
#include "mmx/train/vim2_train_step.h"

namespace mmx::train {

/// Hooks of a ViM2 run (log lines, the progress bar, a stop after an epoch) and, for tests,
/// in-memory data sets used instead of [data] (both or neither).
struct ClassifyHooks : RunHooks {
  std::shared_ptr<const data::ImageDataset> train_data, val_data;
};

/// One evaluated epoch. Accuracies in percent; *_ema are NaN without train.ema.
struct ClassifyEpochRecord {
  int64_t epoch = 0;
  double train_loss = 0, lr = 0;
  double top1 = 0, top5 = 0, val_loss = 0;
  double ema_top1 = 0, ema_top5 = 0;
  double images_per_second = 0;  ///< training throughput of the epoch (augmentation included)
  double epoch_seconds = 0;      ///< training time of the epoch
  double elapsed_seconds = 0;    ///< wall-clock training time since the run started (resumes add up)
};

/// What train_vim2 returns; train_seconds: wall time of this call (a resume starts from 0);
/// steps: optimizer steps of the whole run.
struct ClassifyResult {
  std::string run_dir;
  int64_t epochs_run = 0, best_epoch = 0, steps = 0;
  double best_top1 = 0;  ///< max over evaluated epochs of max(top1, ema_top1)
  bool out_of_time = false;
  ClassifyMetrics final_val, final_val_ema;  ///< after the last epoch (ema: n = 0 without EMA)
  double train_seconds = 0;
  std::vector<ClassifyEpochRecord> history;  ///< evaluated epochs only
  std::vector<float> final_train_losses;     ///< per-step losses of the last epoch run (tests)
  int64_t n_params = 0;
};

/// Trains ViM2 as `config` says, writing run_dir/{config.toml, train.log, metrics.json,
/// metrics.csv, last.safetensors, best.safetensors}. Checkpoint tensors: the model's parameters
/// and buffers by name, the EMA's under "ema.", AdamW state under "optimizer."; metadata: format
/// "mambamixer.vim2.v1", the resolved config TOML, the class names (JSON), epoch, step, best_top1,
/// best_epoch, elapsed_seconds (floats as %.17g) and history (the JSON records of the evaluated
/// epochs up to this one). best.safetensors (no optimizer state) is the evaluated epoch with
/// the highest max(top1, ema_top1). time_budget_minutes stops training mid-epoch; the partial
/// epoch is still evaluated and saved. With `resume`, continues from run_dir/last.safetensors
/// (its [model] and [augment] must equal `config`'s) and takes the history from it, so a kill
/// between writing last.safetensors and metrics.json loses no epoch; a resumed run equals an
/// uninterrupted one bitwise on the CPU (per-epoch seeds for the loader, the augmentation and
/// drop-path). Every step's loss is checked for NaN / inf (read back every 20 steps and at the end
/// of the epoch) before anything of that epoch is evaluated or written.
/// Errors: data::DataError, ConfigError (also train.threads above this machine's hardware
/// threads, before anything is written), CheckpointError, c10::Error (no CUDA; a non-finite
/// training loss, naming the epoch, the step and its lr; a non-finite validation loss).
ClassifyResult train_vim2(const ClassifyConfig& config, const std::string& run_dir, bool resume = false,
                          const ClassifyHooks& hooks = {});

}  // namespace mmx::train
