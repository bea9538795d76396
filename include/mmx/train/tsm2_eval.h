// Evaluation of a TSM2 forecaster on every window of a split: MSE and MAE over the horizon, in
// the standardised space (the protocol of arXiv 2403.19888 Table 5, as TSLib reports it) and
// optionally in the data's own units.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "mmx/data/timeseries/forecast_data.h"
#include "mmx/models/tsm2.h"

namespace mmx::train {

/// Test/validation metrics. mse/mae: means over windows x horizon x variates in the standardised
/// space (the paper's protocol); *_orig: the same in original units (NaN unless asked).
struct EvalMetrics {
  double mse = 0.0, mae = 0.0;
  int64_t windows = 0;               ///< every window of the split, none dropped
  std::vector<double> mse_per_step;  ///< (pred_len) per horizon step
  std::vector<double> mae_per_step;
  double mse_orig = std::numeric_limits<double>::quiet_NaN();
  double mae_orig = std::numeric_limits<double>::quiet_NaN();
};

/// Evaluates `model` on every window of `windows` in order, batch_size at a time (the last partial
/// batch included). With `scaler`, also reports metrics in original units. With `target_channel`
/// >= 0 (TSLib's "MS" features) only that variate is scored. The model runs in eval mode without
/// gradients on `device` (its train/eval mode is restored). Errors: c10::Error when the windows'
/// (seq_len, n_vars) differ from the model's.
EvalMetrics evaluate(models::TSM2& model, const data::WindowDataset& windows, int64_t batch_size, torch::Device device,
                     const data::StandardScaler* scaler = nullptr, int64_t target_channel = -1);

}  // namespace mmx::train
