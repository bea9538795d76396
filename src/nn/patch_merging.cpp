// Swin patch merging between ViM2 stages (MambaMixer §4.1; VMamba / Swin PatchMerging2D).
#include "mmx/nn/patch_merging.h"

namespace mmx::nn {

namespace F = torch::nn::functional;

PatchMerging2DImpl::PatchMerging2DImpl(int64_t dim_, double eps) : dim(dim_) {
  TORCH_CHECK(dim >= 1, "PatchMerging2D: dim must be >= 1, got ", dim);
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({4 * dim}).eps(eps)));
  reduction = register_module("reduction", torch::nn::Linear(torch::nn::LinearOptions(4 * dim, 2 * dim).bias(false)));
}

torch::Tensor PatchMerging2DImpl::forward(const torch::Tensor& x_in) {
  TORCH_CHECK(x_in.dim() == 4 && x_in.size(3) == dim, "PatchMerging2D: x must have shape (B, H, W, ", dim, "), got ",
              x_in.sizes());
  auto x = x_in;
  if (x.size(1) % 2 || x.size(2) % 2) {
    x = F::pad(x, F::PadFuncOptions({0, 0, 0, x.size(2) % 2, 0, x.size(1) % 2}));
  }
  using torch::indexing::Slice;
  auto merged = torch::cat({x.index({Slice(), Slice(0, torch::indexing::None, 2), Slice(0, torch::indexing::None, 2)}),
                            x.index({Slice(), Slice(1, torch::indexing::None, 2), Slice(0, torch::indexing::None, 2)}),
                            x.index({Slice(), Slice(0, torch::indexing::None, 2), Slice(1, torch::indexing::None, 2)}),
                            x.index({Slice(), Slice(1, torch::indexing::None, 2), Slice(1, torch::indexing::None, 2)})},
                           -1);
  return reduction(norm(merged));
}

}  // namespace mmx::nn
