// One ViM2 training step (see include/mmx/train/vim2_train_step.h).
#include "mmx/train/vim2_train_step.h"

#include <cstdio>

#include "mmx/train/autocast.h"
#include "mmx/train/grad_clip.h"

namespace mmx::train {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

torch::Tensor soft_target_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets) {
  TORCH_CHECK(logits.dim() == 2 && logits.sizes() == targets.sizes(),
              "soft_target_cross_entropy: logits and targets must both be (B, K), got ", logits.sizes(), " and ",
              targets.sizes());
  const auto logp = torch::log_softmax(logits.to(torch::kFloat32), 1);
  return -(targets.to(torch::kFloat32) * logp).sum(1).mean();
}

ViM2TrainStep::ViM2TrainStep(models::ViM2 model, models::ViM2 ema, const ViM2TrainStepOptions& options)
    : model_(std::move(model)), ema_(std::move(ema)), options_(options) {
  const auto params = model_->parameters();
  TORCH_CHECK(!params.empty(), "ViM2TrainStep: the model has no parameters");
  TORCH_CHECK(!options.bf16 || params[0].device().is_cuda(),
              "ViM2TrainStep: bf16 autocast needs the model on a CUDA device, it is on ", params[0].device());
  if (ema_) model_ema_.emplace(ema_.ptr(), *model_, options.ema);
  opt_ = make_adamw(weight_decay_groups(*model_), options.adamw);
  named_ = named_parameter_list(*model_);
}

torch::Tensor ViM2TrainStep::step(const torch::Tensor& x, const torch::Tensor& targets, double lr) {
  for (auto& g : opt_->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
  torch::Tensor logits;
  {
    AutocastScope ac(options_.bf16);
    logits = model_->forward(x);
  }
  const auto loss = soft_target_cross_entropy(logits, targets);
  opt_->zero_grad();
  loss.backward();
  if (options_.clip_grad > 0) {
    std::vector<torch::Tensor> grads;
    for (const auto& p : model_->parameters())
      if (p.grad().defined()) grads.push_back(p.grad());
    clip_grad_norm_device(grads, options_.clip_grad);
  }
  opt_->step();
  ++steps_;
  if (model_ema_) model_ema_->update(*model_, steps_);
  losses_.push_back(loss.detach());
  return losses_.back();
}

void ViM2TrainStep::begin_epoch(int64_t epoch) {
  losses_.clear();
  checked_ = 0;
  epoch_ = epoch;
  first_step_ = steps_;
}

void ViM2TrainStep::check_losses(const LrSchedule& schedule) {
  // Every step's loss is checked, but read back only now and then (every .item() waits for the
  // GPU): the first non-finite one among those not yet checked is reported with its own step and
  // learning rate, before anything of this epoch is evaluated or written.
  if (checked_ == losses_.size()) return;
  const auto recent = torch::stack(std::vector<torch::Tensor>(losses_.begin() + checked_, losses_.end()));
  const auto finite = torch::isfinite(recent);
  if (!finite.all().item<bool>()) {
    const int64_t k = static_cast<int64_t>(checked_) + (~finite).nonzero()[0][0].item<int64_t>();
    const double bad = losses_[k].item<double>();
    const int64_t at_step = first_step_ + k + 1;
    TORCH_CHECK(false, "training loss became " + fmt("%g", bad) + " at epoch " + std::to_string(epoch_) + ", step " +
                           std::to_string(at_step) + " (batch " + std::to_string(k + 1) + " of the epoch) with lr " +
                           fmt("%.6g", schedule.at(at_step - 1)) +
                           "; nothing of this epoch was written (try a lower "
                           "train.lr, or a train.clip_grad > 0)");
  }
  checked_ = losses_.size();
}

double ViM2TrainStep::last_loss() const {
  TORCH_CHECK(!losses_.empty(), "ViM2TrainStep::last_loss: no step in this epoch yet");
  return losses_.back().item<double>();
}

torch::Tensor ViM2TrainStep::epoch_losses() const {
  return losses_.empty() ? torch::zeros({0}) : torch::stack(losses_).to(torch::kCPU, torch::kFloat32);
}

}  // namespace mmx::train
