// AdamW with device-side step count and learning rate (see include/mmx/train/capturable_adamw.h).
#include "mmx/train/capturable_adamw.h"

#include <cmath>
#include <unordered_set>

namespace mmx::train {

CapturableAdamW::CapturableAdamW(std::vector<torch::Tensor> decay, std::vector<torch::Tensor> no_decay,
                                 const CapturableAdamWOptions& options)
    : decay_(std::move(decay)), options_(options) {
  TORCH_CHECK(options.lr >= 0 && options.weight_decay >= 0, "CapturableAdamW: lr and weight_decay must be >= 0, got ",
              options.lr, ", ", options.weight_decay);
  params_ = decay_;
  params_.insert(params_.end(), no_decay.begin(), no_decay.end());
  TORCH_CHECK(!params_.empty(), "CapturableAdamW: no parameters");
  const auto dtype = params_[0].scalar_type();
  const auto device = params_[0].device();
  TORCH_CHECK(at::isFloatingType(dtype), "CapturableAdamW: parameters must be floating point, got ", dtype);
  torch::NoGradGuard no_grad;
  for (const auto& p : params_) {
    TORCH_CHECK(p.scalar_type() == dtype && p.device() == device,
                "CapturableAdamW: all parameters must share one dtype and device; got ", dtype, " on ", device, " and ",
                p.scalar_type(), " on ", p.device());
    exp_avg_.push_back(torch::zeros_like(p, at::MemoryFormat::Preserve));
    exp_avg_sq_.push_back(torch::zeros_like(p, at::MemoryFormat::Preserve));
  }
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  step_ = torch::zeros({}, f64);
  lr_ = torch::full({}, options.lr, f64);
}

void CapturableAdamW::set_lr(double lr) {
  torch::NoGradGuard no_grad;
  lr_.fill_(lr);
}

void CapturableAdamW::step() {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  grads.reserve(params_.size());
  for (const auto& p : params_) {
    TORCH_CHECK(p.grad().defined(), "CapturableAdamW::step: a parameter of shape ", p.sizes(), " has no gradient");
    grads.push_back(p.grad());
  }
  const auto dtype = params_[0].scalar_type();
  const double b1 = options_.beta1, b2 = options_.beta2;
  step_.add_(1);
  // The scalars of torch::optim::AdamW, in float64 on the device, rounded to the parameters'
  // dtype like the host scalars torch passes to its kernels.
  auto bias1 = torch::rsub(torch::pow(b1, step_), 1.0);
  auto bias2 = torch::rsub(torch::pow(b2, step_), 1.0);
  if (options_.weight_decay != 0 && !decay_.empty())
    at::_foreach_mul_(decay_, torch::rsub(lr_ * options_.weight_decay, 1.0).to(dtype));
  at::_foreach_mul_(exp_avg_, b1);
  at::_foreach_add_(exp_avg_, grads, 1 - b1);
  at::_foreach_mul_(exp_avg_sq_, b2);
  at::_foreach_addcmul_(exp_avg_sq_, grads, grads, 1 - b2);
  auto denom = at::_foreach_sqrt(exp_avg_sq_);
  at::_foreach_div_(denom, bias2.sqrt().to(dtype));
  at::_foreach_add_(denom, options_.eps);
  auto update = at::_foreach_div(exp_avg_, denom);
  at::_foreach_mul_(update, (-lr_ / bias1).to(dtype));
  at::_foreach_add_(params_, update);
}

CapturableAdamW::State CapturableAdamW::snapshot() const {
  torch::NoGradGuard no_grad;
  State s;
  for (const auto& t : exp_avg_) s.exp_avg.push_back(t.clone());
  for (const auto& t : exp_avg_sq_) s.exp_avg_sq.push_back(t.clone());
  s.step = step_.clone();
  s.lr = lr_.clone();
  return s;
}

void CapturableAdamW::restore(const State& state) {
  TORCH_CHECK(state.exp_avg.size() == exp_avg_.size() && state.exp_avg_sq.size() == exp_avg_sq_.size() &&
                  state.step.defined() && state.lr.defined(),
              "CapturableAdamW::restore: a snapshot of another optimizer");
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < exp_avg_.size(); ++i) {
    exp_avg_[i].copy_(state.exp_avg[i]);
    exp_avg_sq_[i].copy_(state.exp_avg_sq[i]);
  }
  step_.copy_(state.step);
  lr_.copy_(state.lr);
}

void CapturableAdamW::export_state(torch::optim::AdamW& optimizer) const {
  torch::NoGradGuard no_grad;
  const auto steps = static_cast<int64_t>(std::llround(step_.item<double>()));
  const double lr = lr_.item<double>();
  std::unordered_set<void*> known;
  for (const auto& g : optimizer.param_groups()) {
    for (const auto& p : g.params()) known.insert(p.unsafeGetTensorImpl());
  }
  auto& state = optimizer.state();
  for (size_t i = 0; i < params_.size(); ++i) {
    void* key = params_[i].unsafeGetTensorImpl();
    TORCH_CHECK(known.count(key), "CapturableAdamW::export_state: a parameter of shape ", params_[i].sizes(),
                " is not in the target optimizer");
    if (steps == 0) {
      state.erase(key);
      continue;
    }
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(steps);
    s->exp_avg(exp_avg_[i].clone());
    s->exp_avg_sq(exp_avg_sq_[i].clone());
    state[key] = std::move(s);
  }
  for (auto& g : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
}

void CapturableAdamW::import_state(const torch::optim::AdamW& optimizer) {
  torch::NoGradGuard no_grad;
  const auto& state = optimizer.state();
  int64_t steps = -1;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto it = state.find(params_[i].unsafeGetTensorImpl());
    if (it == state.end()) {
      exp_avg_[i].zero_();
      exp_avg_sq_[i].zero_();
      continue;
    }
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    TORCH_CHECK(steps < 0 || steps == s.step(), "CapturableAdamW::import_state: parameters were stepped ", steps,
                " and ", s.step(), " times; one shared step count is required");
    steps = s.step();
    TORCH_CHECK(s.exp_avg().sizes() == params_[i].sizes() && s.exp_avg_sq().sizes() == params_[i].sizes(),
                "CapturableAdamW::import_state: moments of shape ", s.exp_avg().sizes(), " for a parameter of shape ",
                params_[i].sizes());
    exp_avg_[i].copy_(s.exp_avg());
    exp_avg_sq_[i].copy_(s.exp_avg_sq());
  }
  step_.fill_(static_cast<double>(std::max<int64_t>(steps, 0)));
  const auto& groups = optimizer.param_groups();
  if (!groups.empty()) lr_.fill_(static_cast<const torch::optim::AdamWOptions&>(groups[0].options()).lr());
}

}  // namespace mmx::train
