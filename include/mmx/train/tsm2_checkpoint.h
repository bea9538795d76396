// What a TSM2 checkpoint holds besides the weights (metadata format "mambamixer.tsm2.v1": the
// resolved config, the data's columns, scaler and step; docs/checkpoints.md) and loading a trained
// forecaster back from it.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mmx/data/timeseries/forecast_source.h"
#include "mmx/models/tsm2.h"
#include "mmx/train/tsm2_config.h"

namespace mmx::train {

/// The "format" metadata of TSM2 checkpoints.
inline constexpr const char* kTsm2CheckpointFormat = "mambamixer.tsm2.v1";

/// The metadata every checkpoint of a TSM2 run carries, which lets eval and forecast rebuild the
/// model and the data transform: format, mmx_version, config (to_toml), columns and scaler_mean /
/// scaler_std (JSON arrays), date_column, n_vars, target_index, freq.
std::map<std::string, std::string> forecaster_metadata(const TrainConfig& config, const data::LoadedSeries& series);

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
