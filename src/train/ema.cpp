// Model EMA (see include/mmx/train/ema.h).
#include "mmx/train/ema.h"

#include <algorithm>
#include <vector>

#include "mmx/train/checkpoint.h"

namespace mmx::train {

double ema_decay_at(double decay, int64_t step, bool warmup) {
  if (!warmup) return decay;
  return std::min(decay, (1.0 + static_cast<double>(step)) / (10.0 + static_cast<double>(step)));
}

void ema_update(torch::nn::Module& ema, const torch::nn::Module& model, double decay) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> ema_f, model_f;
  auto collect = [&](const auto& ema_items, const auto& model_items, const char* what) {
    TORCH_CHECK(ema_items.size() == model_items.size(), "ema_update: the EMA has ", ema_items.size(), " ", what,
                ", the model ", model_items.size());
    for (const auto& item : model_items) {
      const torch::Tensor* e = ema_items.find(item.key());
      TORCH_CHECK(e != nullptr, "ema_update: the EMA has no ", what, " '", item.key(), "'");
      TORCH_CHECK(e->sizes() == item.value().sizes(), "ema_update: ", what, " '", item.key(), "' has shape ",
                  e->sizes(), " in the EMA but ", item.value().sizes(), " in the model");
      if (!item.value().defined()) continue;
      if (item.value().is_floating_point()) {
        ema_f.push_back(*e);
        model_f.push_back(item.value());
      } else {
        e->copy_(item.value());
      }
    }
  };
  collect(ema.named_parameters(), model.named_parameters(), "parameter");
  collect(ema.named_buffers(), model.named_buffers(), "buffer");
  if (ema_f.empty()) return;
  at::_foreach_mul_(ema_f, decay);
  at::_foreach_add_(ema_f, model_f, 1.0 - decay);
}

ModelEma::ModelEma(std::shared_ptr<torch::nn::Module> ema, const torch::nn::Module& model, const EmaOptions& options)
    : ema_(std::move(ema)), options_(options) {
  load_module_state(*ema_, module_state(model), "the model");
  ema_->eval();
  for (auto& p : ema_->parameters()) p.requires_grad_(false);
}

void ModelEma::update(const torch::nn::Module& model, int64_t step) {
  ema_update(*ema_, model, ema_decay_at(options_.decay, step, options_.warmup));
}

}  // namespace mmx::train
