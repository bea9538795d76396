// Global-norm gradient clipping on the device (see include/mmx/train/grad_clip.h).
#include "mmx/train/grad_clip.h"

namespace mmx::train {

namespace {

std::vector<torch::Tensor> defined_only(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> out;
  for (const auto& t : ts)
    if (t.defined()) out.push_back(t);
  return out;
}

}  // namespace

torch::Tensor clip_grad_norm_device(const std::vector<torch::Tensor>& grads, double max_norm) {
  TORCH_CHECK(max_norm > 0, "clip_grad_norm_device: max_norm must be > 0, got ", max_norm);
  const auto g = defined_only(grads);
  if (g.empty()) return torch::zeros({}, torch::kFloat32);
  for (const auto& t : g)
    TORCH_CHECK(t.device() == g[0].device(), "clip_grad_norm_device: grads on ", g[0].device(), " and ", t.device());
  torch::NoGradGuard no_grad;
  const auto norms = at::_foreach_norm(g, 2);
  torch::Tensor total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2);
  auto coef = torch::clamp_max(max_norm / (total + 1e-6), 1.0);
  at::_foreach_mul_(g, coef);
  return total;
}

}  // namespace mmx::train
