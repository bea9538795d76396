// AdamW whose step count and learning rate live on the device, so that a whole training step
// (mmx/train/tsm2_train_step.h) can be captured in a CUDA graph; the update is that of
// torch::optim::AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2019).
#pragma once

#include <torch/torch.h>

#include <vector>

namespace mmx::train {

/// Hyper-parameters of CapturableAdamW (torch::optim::AdamWOptions' defaults except the lr).
struct CapturableAdamWOptions {
  double lr = 1e-3;
  double weight_decay = 1e-2;  ///< decoupled, applied to the `decay` group only
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

/// AdamW (the update of torch::optim::AdamW, no amsgrad) written with multi-tensor ATen ops on
/// the parameters' device, whose step count and learning rate live in 0-dim float64 device
/// tensors and whose bias corrections are computed on the device: step() issues no host
/// synchronisation and no host-to-device copy, so it can be captured in a CUDA graph and works
/// the same eagerly (also on the CPU). Every parameter must have a defined .grad() when step()
/// runs; its moments live in fixed tensors (copy_ only, never reallocated).
class CapturableAdamW {
 public:
  /// `decay` and `no_decay`: the two groups (e.g. mmx::train::weight_decay_groups), all of one
  /// floating dtype and device. Errors: c10::Error for an empty parameter set, mixed dtypes or
  /// devices, or a negative lr / weight decay.
  CapturableAdamW(std::vector<torch::Tensor> decay, std::vector<torch::Tensor> no_decay,
                  const CapturableAdamWOptions& options);

  /// Writes the learning rate used by later steps (a fill kernel on CUDA; asynchronous).
  void set_lr(double lr);
  /// One AdamW step on every parameter. Errors: c10::Error when a parameter has no grad.
  void step();

  /// Copies the moments, step count and learning rate into `optimizer`'s per-parameter
  /// AdamWParamState and group options (for mmx::train::add_optimizer_state). `optimizer` must
  /// hold the same parameter tensors. Synchronises with the device.
  void export_state(torch::optim::AdamW& optimizer) const;
  /// Copies `optimizer`'s state (e.g. from load_optimizer_state) into this optimizer's tensors in
  /// place; parameters without state restart from zero moments. Errors: c10::Error when the
  /// parameters' states disagree on the step count or a moment has another shape.
  void import_state(const torch::optim::AdamW& optimizer);

  /// Copies of the moments, step count and learning rate.
  struct State {
    std::vector<torch::Tensor> exp_avg, exp_avg_sq;
    torch::Tensor step, lr;
  };
  State snapshot() const;
  /// Copies a snapshot back in place. Errors: c10::Error for a snapshot of another optimizer.
  void restore(const State& state);

  /// Parameters in update order: the decay group, then the no-decay group.
  const std::vector<torch::Tensor>& params() const { return params_; }
  /// The first/second moments (same order as params()).
  const std::vector<torch::Tensor>& exp_avg() const { return exp_avg_; }
  const std::vector<torch::Tensor>& exp_avg_sq() const { return exp_avg_sq_; }
  /// 0-dim float64 tensors: steps taken, current learning rate.
  const torch::Tensor& step_count() const { return step_; }
  const torch::Tensor& lr() const { return lr_; }

 private:
  std::vector<torch::Tensor> params_, decay_, exp_avg_, exp_avg_sq_;
  torch::Tensor step_, lr_;
  CapturableAdamWOptions options_;
};

}  // namespace mmx::train
