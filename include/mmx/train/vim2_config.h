// Experiment configuration of ViM2 image classification: one TOML file with [data], [model],
// [augment] and [train] tables, overridable from the command line with `--set section.key=value`
// (lists as TOML arrays: `--set model.dims=[32,64,128,256]`). `model.name = "vim2"` marks a
// classification config (is_classify_config); unknown keys are errors naming the key and the
// closest valid one, read by the key-table machinery both models share (src/train/config_value.h).
// The resolved configuration is written to every run directory and stored in every checkpoint.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mmx/data/images/augment.h"
#include "mmx/data/images/image_folder.h"
#include "mmx/models/vim2.h"
#include "mmx/train/config_error.h"

namespace mmx::train {

/// [data]: which images.
struct ClassifyDataConfig {
  std::string dataset = "cifar10";  ///< "cifar10" (binary batches) | "folder" (ImageFolder layout)
  std::string data_root;            ///< "" = $MMX_DATA_ROOT or ../shared/data; CIFAR-10 lives in <root>/cifar10
  std::string train_dir;            ///< folder: root of the training images (<train_dir>/<class>/<image>)
  std::string val_dir;              ///< folder: root of the validation images
  int64_t workers = 2;              ///< decoding/augmentation threads of the loader (0 = on the caller's thread)
  int64_t prefetch = 2;             ///< batches prepared ahead of the training step
};

/// [train]: optimisation. Defaults: the ImageNet-1K recipe (batch 1024, 300 epochs, 20 warm-up)
/// of VMamba / Swin that arXiv 2403.19888 follows for ViM2 (Table 2).
struct ClassifyOptimConfig {
  int64_t epochs = 300;
  int64_t batch_size = 1024;
  int64_t eval_batch_size = 256;
  double lr = 1e-3;             ///< peak learning rate (after warm-up)
  double min_lr = 1e-5;         ///< cosine floor, reached at the last step
  double warmup_lr = 1e-6;      ///< learning rate of the first step; linear to lr over warm-up
  double warmup_epochs = 20.0;  ///< warm-up length in epochs (fractions allowed; per step)
  double weight_decay = 0.05;   ///< AdamW; never on norms, biases, A_log, D, averaging scalars
  double clip_grad = 5.0;       ///< max global gradient norm (0 = off)
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  bool ema = true;            ///< keep an exponential moving average of the weights
  double ema_decay = 0.9999;  ///< ema = decay * ema + (1 - decay) * param, every step
  bool ema_warmup = true;     ///< use min(ema_decay, (1 + t) / (10 + t)) at step t (short runs)
  int64_t seed = 0;
  int64_t threads = 0;                ///< CPU threads (0 = LibTorch default)
  std::string device = "cpu";         ///< cpu | cuda
  std::string precision = "fp32";     ///< fp32 | bf16 (autocast on CUDA)
  int64_t max_batches_per_epoch = 0;  ///< 0 = the whole training set each epoch
  int64_t max_eval_batches = 0;       ///< 0 = the whole validation set (>0: quick runs and tests)
  double time_budget_minutes = 0.0;   ///< stop training after this much wall time (0 = none)
  int64_t eval_every = 1;             ///< validate every N epochs (and always after the last one)
  int64_t save_every = 1;             ///< write last.safetensors every N epochs (and at the end)
};

/// The whole experiment.
struct ClassifyConfig {
  ClassifyDataConfig data;
  std::string model_name = "vim2";  ///< [model] name: must be "vim2"
  std::string preset;               ///< [model] preset: "" | vim2_tiny | vim2_small | vim2_base
  models::ViM2Options model;        ///< the preset's options with the table's fields applied
  data::AugmentOptions augment;
  ClassifyOptimConfig train;
};

/// True when the TOML file at `path` has `[model] name = "vim2"` (a ViM2 classification config);
/// false for anything else, including an unreadable or malformed file (the TSM2 loader then reports it).
bool is_classify_config(const std::string& path);

/// Reads a TOML file, then applies `overrides` ("section.key=value"). `model.preset` is applied
/// first, then every other [model] key (file, then overrides) on top of it.
/// Errors: ConfigError naming the file (and line), the key and, for unknown keys, the closest
/// valid key; invalid model options (ViM2Options::validate) are reported the same way.
ClassifyConfig load_classify_config(const std::string& path, const std::vector<std::string>& overrides = {});
/// Parses TOML text (`source` names it in errors).
ClassifyConfig parse_classify_config(const std::string& toml_text, const std::string& source,
                                     const std::vector<std::string>& overrides = {});
/// The resolved configuration as TOML (every key, including defaults; parses back to the same config).
std::string to_toml(const ClassifyConfig& config);
/// Every valid key, "section.key".
std::vector<std::string> classify_config_keys();

}  // namespace mmx::train
