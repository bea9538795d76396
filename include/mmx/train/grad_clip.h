// Gradient clipping by the global L2 norm, kept on the device (no host synchronisation, so it can
// run inside a CUDA graph). Used by the TSM2 and ViM2 training steps.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace mmx::train {

/// Scales the defined tensors of `grads` in place so their global L2 norm is at most max_norm:
/// g *= min(1, max_norm / (norm + 1e-6)), the rule of torch::nn::utils::clip_grad_norm_, but
/// without reading the norm back to the host (so it can be captured in a CUDA graph). Returns the
/// norm before clipping as a 0-dim float32 tensor on the grads' device (a CPU zero when none is
/// defined). Errors: c10::Error for max_norm <= 0 or grads of mixed devices.
torch::Tensor clip_grad_norm_device(const std::vector<torch::Tensor>& grads, double max_norm);

}  // namespace mmx::train
