// The ViM2 token mixer: VMamba's SS2D with the four-direction cross-scan (MambaMixer §4.1).
//
// Layout convention: image tokens are channels-last, x (B, H, W, C), as in VMamba.
#pragma once

#include "mmx/nn/s6.h"
#include "mmx/nn/stacked_s6.h"

#include <torch/torch.h>

#include <cstdint>

namespace mmx::nn {

/// Options of SS2D.
struct SS2DOptions {
  SS2DOptions(int64_t d_model = 96) : d_model_(d_model) {}
  /// C, the token width.
  TORCH_ARG(int64_t, d_model) = 96;
  /// E = expand * C.
  TORCH_ARG(int64_t, expand) = 2;
  TORCH_ARG(int64_t, d_state) = 16;
  /// Side of the depthwise 2D conv (3).
  TORCH_ARG(int64_t, d_conv) = 3;
  /// Keep the LayerNorm on the merged scans (VMamba out_norm).
  TORCH_ARG(bool, out_norm) = true;
  TORCH_ARG(double, norm_eps) = 1e-5;
  /// Initial values of the four directions' S6 parameters (see S6InitOptions).
  TORCH_ARG(S6InitOptions, s6_init) = {};
  /// Rebuild the scan's saved states in the backward instead of keeping them (training memory;
  /// SelectiveScanOptions::recompute_states).
  TORCH_ARG(bool, scan_recompute) = false;
};

/// The ViM2 token mixer (MambaMixer §4.1 "Scanning" and "Depth-wise Convolution"; the token-mixer
/// cell of Table 8, Appendix A) = VMamba's SS2D: for x̂ (B, H, W, C),
///   [u; z] = in_proj(x̂); u' = SiLU(DWConv3x3(u)); four scans of u' (row-major, column-major and
///   their reverses) with their own S6 parameters; the outputs summed back on the grid;
///   y = out_norm(sum) * SiLU(z); out = out_proj(y).
/// The four directions are the ones VMamba's code scans (row-major, column-major and their
/// reverses). Cross-scan and cross-merge are index maps (flatten / transpose views); the two
/// reversed directions use the kernel's reverse flag instead of flipped copies. out_norm is
/// VMamba's LayerNorm on the merged scans.
///
/// Parameters: in_proj.weight (2E, C), conv2d.weight (E, 1, k, k), conv2d.bias (E), s6.* (K = 4),
/// out_norm.{weight,bias} (E), out_proj.weight (C, E). R = ceil(C / 16).
class SS2DImpl : public torch::nn::Module {
 public:
  explicit SS2DImpl(const SS2DOptions& options = {});
  /// x: (B, H, W, C) -> (B, H, W, C). Throws c10::Error if x is not 4-D or x.size(3) != C.
  torch::Tensor forward(const torch::Tensor& x);

  SS2DOptions options;
  torch::nn::Linear in_proj{nullptr};
  torch::nn::Conv2d conv2d{nullptr};
  StackedS6 s6{nullptr};
  torch::nn::LayerNorm out_norm{nullptr};
  torch::nn::Linear out_proj{nullptr};
};
TORCH_MODULE(SS2D);

}  // namespace mmx::nn
