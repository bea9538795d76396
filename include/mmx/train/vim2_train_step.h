// One ViM2 training step on an augmented batch (the ImageNet-1K recipe of VMamba / Swin that
// arXiv 2403.19888 follows for ViM2, Table 2): forward under bf16 autocast, soft-target cross
// entropy (Mixup / CutMix / label smoothing targets), backward, global-norm clipping, AdamW with
// the weight-decay groups, and the model EMA. The counterpart of TSM2TrainStep
// (mmx/train/tsm2_train_step.h); the per-step losses stay on the device until checked.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mmx/models/vim2.h"
#include "mmx/train/ema.h"
#include "mmx/train/lr_schedule.h"
#include "mmx/train/param_groups.h"

namespace mmx::train {

/// Cross entropy against soft targets (Mixup / CutMix / label smoothing; timm's
/// SoftTargetCrossEntropy): mean over the batch of -Σ_k targets[b, k] * log_softmax(logits)[b, k],
/// computed in fp32. logits (B, K), targets (B, K) with rows summing to 1 -> scalar (nats).
/// Throws c10::Error on mismatched shapes.
torch::Tensor soft_target_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets);

/// How ViM2TrainStep trains (the [train] settings of a ViM2 config).
struct ViM2TrainStepOptions {
  /// AdamW over the weight-decay groups; adamw.lr is the initial rate (step() sets each step's).
  AdamWGroupOptions adamw{1e-3, 0.05};
  double clip_grad = 5.0;  ///< max global gradient norm; 0 = off
  bool bf16 = false;       ///< bf16 autocast (CUDA only)
  EmaOptions ema;          ///< decay and warm-up of the EMA, when there is one
};

/// A ViM2 training step with its AdamW and optional EMA.
class ViM2TrainStep {
 public:
  /// `model` must already live on its training device; `ema` is nullptr (no EMA) or a second
  /// ViM2 of the same options on that device, which starts as a copy of `model`.
  /// Errors: c10::Error for bf16 on a CPU model; CheckpointError when `ema` has other shapes.
  ViM2TrainStep(models::ViM2 model, models::ViM2 ema, const ViM2TrainStepOptions& options);

  /// One step at learning rate `lr` on x (B, 3, H, W) float and soft targets (B, K), both on the
  /// model's device: returns the batch loss (0-dim float32 on the device, detached, not read
  /// back) and keeps it for check_losses. The EMA is updated with the step count after this step.
  /// Errors: c10::Error on shapes the model refuses.
  torch::Tensor step(const torch::Tensor& x, const torch::Tensor& targets, double lr);

  /// Optimizer steps taken, over the whole run (set_steps restores it on resume).
  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }

  /// Forgets the kept losses: the next step is the first of epoch `epoch`.
  void begin_epoch(int64_t epoch);
  /// Reads back the losses kept since the last check (one synchronisation) and throws c10::Error
  /// at the first non-finite one: "training loss became <x> at epoch <e>, step <s> (batch <b> of
  /// the epoch) with lr <schedule.at(s - 1)>; nothing of this epoch was written (...)".
  void check_losses(const LrSchedule& schedule);
  /// The loss of the latest step (synchronises). Errors: c10::Error before any step of the epoch.
  double last_loss() const;
  /// The losses of the epoch's steps, float32 on the CPU (empty before the first step).
  torch::Tensor epoch_losses() const;

  torch::optim::AdamW& optimizer() { return *opt_; }
  /// The model's parameters by name (the `named_params` of add_optimizer_state).
  const std::vector<std::pair<std::string, torch::Tensor>>& named_parameters() const { return named_; }

 private:
  models::ViM2 model_;
  models::ViM2 ema_;
  std::optional<ModelEma> model_ema_;
  ViM2TrainStepOptions options_;
  std::unique_ptr<torch::optim::AdamW> opt_;
  std::vector<std::pair<std::string, torch::Tensor>> named_;
  int64_t steps_ = 0;
  // The current epoch's losses, those already checked, and the step count before its first step.
  std::vector<torch::Tensor> losses_;
  size_t checked_ = 0;
  int64_t epoch_ = 0, first_step_ = 0;
};

}  // namespace mmx::train
