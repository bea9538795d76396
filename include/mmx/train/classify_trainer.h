// ViM2 image classification: training with the ImageNet recipe of paper-spec §4.7 (AdamW with
// no-decay groups, linear warm-up + cosine per step, gradient clipping, bf16 autocast on CUDA,
// batched augmentation with Mixup/CutMix and label smoothing, model EMA), evaluation (top-1 /
// top-5), a run directory (resolved config, log, metrics CSV/JSON against wall-clock time,
// safetensors checkpoints written atomically) and bitwise resumable training.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mmx/data/images.h"
#include "mmx/models/vim2.h"
#include "mmx/nn/mamba_mixer.h"
#include "mmx/train/classify_config.h"

namespace mmx::train {

/// Accuracy and loss over a set of images. top1 / top5: percent of images (0..100) whose label is
/// the arg-max / among the 5 largest logits (among all logits when there are fewer than 5
/// classes); loss: mean cross entropy against the hard labels (nats); n: number of images.
struct ClassifyMetrics {
  double top1 = 0, top5 = 0, loss = 0;
  int64_t n = 0;
};

/// Metrics of one batch: logits float (B, K), labels int64 (B) in [0, K).
/// Throws c10::Error on mismatched shapes.
ClassifyMetrics classification_metrics(const torch::Tensor& logits, const torch::Tensor& labels);

/// Cross entropy against soft targets (Mixup / CutMix / label smoothing):
/// mean over the batch of -Σ_k targets[b, k] * log_softmax(logits)[b, k], computed in fp32.
/// logits (B, K), targets (B, K) with rows summing to 1 -> scalar (nats).
/// Throws c10::Error on mismatched shapes.
torch::Tensor soft_target_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets);

/// One model-EMA step: for every floating parameter and buffer, ema = decay * ema + (1 - decay) * x
/// (in place, no grad); other buffers are copied. `ema` and `model` must have the same
/// parameter and buffer names and shapes. Throws c10::Error otherwise.
void ema_update(torch::nn::Module& ema, const torch::nn::Module& model, double decay);

/// The EMA decay used after `step` optimizer steps (1-based): `decay`, or with `warmup`
/// min(decay, (1 + step) / (10 + step)), so that a short run's average is not dominated by the
/// random initialisation (the warm-up of TensorFlow's ExponentialMovingAverage num_updates).
double ema_decay_at(double decay, int64_t step, bool warmup);

/// The AdamW groups of a ViM2: nn::split_weight_decay plus the ViM2 parameters it does not
/// recognise: StackedS6 `A_logs` / `Ds`, every name ending in "bias" (conv_bias, dt_projs_bias),
/// the stage averaging scalars (`averaging.w_<k>`) and any other 1-D parameter (timm's rule).
nn::WeightDecayGroups vim2_weight_decay_groups(const torch::nn::Module& model);

/// The loader of one split of `config`'s data: cifar10 -> <data_root>/cifar10 (train: the 50,000
/// training images; otherwise the 10,000 test images); folder -> data.train_dir / data.val_dir.
/// Training loaders shuffle (seed train.seed) and drop the last incomplete batch; evaluation
/// loaders keep the order and every image. Errors: data::DataError naming the file or folder;
/// ConfigError when the data set's class count differs from model.num_classes.
std::unique_ptr<data::ImageLoader> make_classify_loader(const ClassifyConfig& config, bool train);

/// Evaluates `model` (eval mode, no grad) on the batches of `loader` (from the start of an epoch,
/// in order), each transformed by BatchAugment::eval with `augment`; at most `max_batches`
/// batches (0 = all). precision "bf16" autocasts on CUDA. The model's train/eval mode is restored.
ClassifyMetrics evaluate_classifier(models::ViM2Impl& model, data::ImageLoader& loader,
                                    const data::AugmentOptions& augment, torch::Device device,
                                    const std::string& precision = "fp32", int64_t max_batches = 0);

/// Hooks for the caller (the CLI, tests).
struct ClassifyHooks {
  std::function<void(const std::string&)> log;  ///< receives every log line (also written to train.log)
  bool progress_bar = true;
  /// Stop (as if interrupted) after this epoch; 0 = never. For tests of resuming.
  int64_t stop_after_epoch = 0;
  /// In-memory data sets used instead of [data] (tests); both or neither.
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

/// A trained classifier loaded from a checkpoint written by train_vim2.
struct LoadedClassifier {
  ClassifyConfig config;
  models::ViM2 model{nullptr};  ///< in eval mode, on the requested device
  std::vector<std::string> classes;
  int64_t epoch = 0;
  bool ema = false;  ///< the EMA weights were loaded
};

/// True when `path` is a safetensors file whose metadata says format "mambamixer.vim2.v1" (reads
/// the header only); false for anything else, including a missing or malformed file.
bool is_classifier_checkpoint(const std::string& path);

/// Loads `path` (best.safetensors or last.safetensors of a run); `ema` selects the EMA weights.
/// Errors: CheckpointError naming the file (missing, truncated, not a ViM2 checkpoint, no EMA
/// weights stored, tensors of another shape) or ConfigError for its stored config.
LoadedClassifier load_classifier(const std::string& path, torch::Device device = torch::kCPU, bool ema = false);

}  // namespace mmx::train
