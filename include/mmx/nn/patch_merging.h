// Swin patch merging between ViM2 stages (MambaMixer §4.1; VMamba / Swin PatchMerging2D).
//
// Layout convention: image tokens are channels-last, x (B, H, W, C), as in VMamba.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace mmx::nn {

/// Swin patch merging (the down-sampling that opens stages 2-4, MambaMixer §4.1; VMamba / Swin
/// `PatchMerging2D`): (B, H, W, C) -> concat of the 2x2 neighbours [x(0::2, 0::2),
/// x(1::2, 0::2), x(0::2, 1::2), x(1::2, 1::2)] (B, H/2, W/2, 4C) -> LayerNorm(4C)
/// -> Linear(4C -> 2C, no bias). Odd H or W are zero-padded by one row/column.
///
/// Parameters: norm.{weight,bias} (4C), reduction.weight (2C, 4C).
class PatchMerging2DImpl : public torch::nn::Module {
 public:
  explicit PatchMerging2DImpl(int64_t dim = 96, double eps = 1e-5);
  /// x: (B, H, W, C) -> (B, ceil(H/2), ceil(W/2), 2C). Throws c10::Error if x.size(3) != C.
  torch::Tensor forward(const torch::Tensor& x);

  int64_t dim;
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear reduction{nullptr};
};
TORCH_MODULE(PatchMerging2D);

}  // namespace mmx::nn
