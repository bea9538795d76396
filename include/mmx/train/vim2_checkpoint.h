// What a ViM2 checkpoint holds (metadata format "mambamixer.vim2.v1": the resolved config and the
// class names; the EMA weights under "ema."; docs/checkpoints.md) and loading a trained classifier
// back from it.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mmx/models/vim2.h"
#include "mmx/train/checkpoint.h"
#include "mmx/train/vim2_config.h"

namespace mmx::train {

/// The "format" metadata of ViM2 checkpoints.
inline constexpr const char* kVim2CheckpointFormat = "mambamixer.vim2.v1";
/// Key prefix of the EMA weights in ViM2 checkpoints.
inline constexpr const char* kEmaPrefix = "ema.";

/// The metadata every checkpoint of a ViM2 run carries: format, mmx_version, config (the resolved
/// config TOML) and classes (a JSON array of the class names).
std::map<std::string, std::string> classifier_metadata(const std::string& config_toml,
                                                       const std::vector<std::string>& classes);

/// The model tensors of a ViM2 checkpoint: the raw weights (keys without a prefix), or with `ema`
/// the EMA's ("ema." stripped); optimizer state is left out. Empty when the file holds no EMA.
std::map<std::string, torch::Tensor> classifier_weights(const Checkpoint& ckpt, bool ema);

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
