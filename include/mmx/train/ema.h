// Model EMA: an exponential moving average of a model's weights, updated after every optimizer
// step and evaluated beside the raw weights (timm's ModelEmaV2, which the VMamba / Swin ImageNet
// recipe followed for ViM2 enables; arXiv 2403.19888 defers the recipe to VMamba).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>

namespace mmx::train {

/// One model-EMA step: for every floating parameter and buffer, ema = decay * ema + (1 - decay) * x
/// (in place, no grad); other buffers are copied. `ema` and `model` must have the same
/// parameter and buffer names and shapes. Throws c10::Error otherwise.
void ema_update(torch::nn::Module& ema, const torch::nn::Module& model, double decay);

/// The EMA decay used after `step` optimizer steps (1-based): `decay`, or with `warmup`
/// min(decay, (1 + step) / (10 + step)), so that a short run's average is not dominated by the
/// random initialisation (the warm-up of TensorFlow's ExponentialMovingAverage num_updates).
double ema_decay_at(double decay, int64_t step, bool warmup);

struct EmaOptions {
  double decay = 0.9999;  ///< ema = decay * ema + (1 - decay) * param, every step
  bool warmup = true;     ///< use ema_decay_at's warm-up
};

/// The EMA of one model. `ema` is a second module of the model's architecture (on the model's
/// device); the constructor copies the model's parameters and buffers into it, puts it in eval
/// mode and turns its gradients off. Errors: CheckpointError (mmx/train/checkpoint.h) when the two
/// modules' parameters or buffers differ in names or shapes.
class ModelEma {
 public:
  ModelEma(std::shared_ptr<torch::nn::Module> ema, const torch::nn::Module& model, const EmaOptions& options = {});
  /// After optimizer step `step` (1-based, counted over the whole run): ema_update with
  /// ema_decay_at(options.decay, step, options.warmup).
  void update(const torch::nn::Module& model, int64_t step);
  torch::nn::Module& module() const { return *ema_; }

 private:
  std::shared_ptr<torch::nn::Module> ema_;
  EmaOptions options_;
};

}  // namespace mmx::train
