// Weight-decay groups and the grouped AdamW (see include/mmx/train/param_groups.h).
#include "mmx/train/param_groups.h"

namespace mmx::train {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool no_weight_decay(const std::string& name, const torch::Tensor& p) {
  const auto dot = name.rfind('.');
  const std::string last = dot == std::string::npos ? name : name.substr(dot + 1);
  return p.dim() <= 1 || last == "bias" || ends_with(last, "_bias") || last == "A_log" || last == "A_logs";
}

}  // namespace

WeightDecayGroups weight_decay_groups(const torch::nn::Module& module) {
  WeightDecayGroups groups;
  for (const auto& p : module.named_parameters()) {
    if (no_weight_decay(p.key(), p.value())) {
      groups.no_decay_names.push_back(p.key());
      groups.no_decay.push_back(p.value());
    } else {
      groups.decay_names.push_back(p.key());
      groups.decay.push_back(p.value());
    }
  }
  return groups;
}

std::vector<std::pair<std::string, torch::Tensor>> named_parameter_list(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : module.named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

std::unique_ptr<torch::optim::AdamW> make_adamw(const WeightDecayGroups& groups, const AdamWGroupOptions& options) {
  auto adamw = [&](double weight_decay) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(options.lr)
                                                            .betas({options.beta1, options.beta2})
                                                            .eps(options.eps)
                                                            .weight_decay(weight_decay));
  };
  std::vector<torch::optim::OptimizerParamGroup> pg;
  pg.emplace_back(groups.decay, adamw(options.weight_decay));
  pg.emplace_back(groups.no_decay, adamw(0.0));
  return std::make_unique<torch::optim::AdamW>(std::move(pg), torch::optim::AdamWOptions(options.lr));
}

}  // namespace mmx::train
