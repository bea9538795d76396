// The two AdamW parameter groups of every trainer: weight decay on projection and convolution
// weights, none on biases, norms, the S6 state parameters and the averaging scalars. The rule is
// timm's param_groups_weight_decay (no decay on 1-D parameters and biases) plus Mamba's
// `_no_weight_decay` marks on A_log and D (state-spaces/mamba), the conventions VMamba's and
// Swin's training code follow, which arXiv 2403.19888 adopts for ViM2.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mmx::train {

/// Parameters split for the optimizer: weight decay applies to `decay` only. Each group keeps the
/// order of module.named_parameters(); names are the full dotted parameter names.
struct WeightDecayGroups {
  std::vector<std::string> decay_names;
  std::vector<torch::Tensor> decay;
  std::vector<std::string> no_decay_names;
  std::vector<torch::Tensor> no_decay;
};

/// Splits `module`'s parameters by name and shape, for any model: no weight decay on a parameter
/// with at most one dimension (norm weights and biases, RevIN affine, S6 D / StackedS6 Ds, the
/// weighted-averaging scalars), on a bias (name "bias" or ending in ".bias" / "_bias", e.g.
/// dt_projs_bias), or on an S6 state matrix (last name component "A_log" or "A_logs"); decay on
/// everything else (projection and convolution weights, embeddings). Never throws.
WeightDecayGroups weight_decay_groups(const torch::nn::Module& module);

/// `module`'s parameters by their full dotted names, in named_parameters() order (the
/// `named_params` of add_optimizer_state / load_optimizer_state in mmx/train/checkpoint.h).
std::vector<std::pair<std::string, torch::Tensor>> named_parameter_list(const torch::nn::Module& module);

/// Hyper-parameters of the grouped AdamW (torch::optim::AdamWOptions' defaults except the lr).
struct AdamWGroupOptions {
  double lr = 1e-3;
  double weight_decay = 1e-2;  ///< applied to the `decay` group only
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

/// torch::optim::AdamW with two parameter groups: `groups.decay` with options.weight_decay, then
/// `groups.no_decay` with 0; both with options' lr, betas and eps.
/// Errors: c10::Error from torch::optim::AdamW (negative lr, betas outside [0, 1), ...).
std::unique_ptr<torch::optim::AdamW> make_adamw(const WeightDecayGroups& groups, const AdamWGroupOptions& options);

}  // namespace mmx::train
