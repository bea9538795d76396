// The ViM2 token mixer: VMamba's SS2D with the four-direction cross-scan (MambaMixer §4.1).
#include "mmx/nn/ss2d.h"

namespace mmx::nn {

namespace F = torch::nn::functional;

SS2DImpl::SS2DImpl(const SS2DOptions& options_) : options(options_) {
  const int64_t C = options.d_model();
  const int64_t E = options.expand() * C;
  TORCH_CHECK(C >= 1 && E >= 1 && options.d_conv() >= 1 && options.d_conv() % 2 == 1,
              "SS2D: need d_model, expand >= 1 and an odd d_conv, got ", C, ", ", options.expand(), ", ",
              options.d_conv());
  in_proj = register_module("in_proj", torch::nn::Linear(torch::nn::LinearOptions(C, 2 * E).bias(false)));
  conv2d = register_module(
      "conv2d",
      torch::nn::Conv2d(
          torch::nn::Conv2dOptions(E, E, options.d_conv()).groups(E).padding(options.d_conv() / 2).bias(true)));
  s6 = register_module("s6", StackedS6(StackedS6Options(E, 4)
                                           .d_state(options.d_state())
                                           .dt_rank(auto_dt_rank(C))
                                           .s6_init(options.s6_init())
                                           .scan_recompute(options.scan_recompute())));
  if (options.out_norm()) {
    out_norm =
        register_module("out_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({E}).eps(options.norm_eps())));
  }
  out_proj = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(E, C).bias(false)));
}

torch::Tensor SS2DImpl::forward(const torch::Tensor& x) {
  const int64_t C = options.d_model();
  TORCH_CHECK(x.dim() == 4 && x.size(3) == C, "SS2D: x must have shape (B, H, W, ", C, "), got ", x.sizes());
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), L = H * W;
  const int64_t E = options.expand() * C;
  auto uz = in_proj(x).chunk(2, -1);                      // (B, H, W, E) each
  auto u = F::silu(conv2d(uz[0].permute({0, 3, 1, 2})));  // (B, E, H, W)
  // Cross-scan: direction 1 reads the grid row-major, direction 2 column-major; 3 and 4 are the
  // same sequences scanned backwards (reverse flag), so only two layouts are materialised.
  auto xs = torch::stack({u.flatten(2), u.transpose(2, 3).flatten(2)}, 1).view({B, 2 * E, L});
  auto y = s6(xs, 0, 2, /*reverse=*/false) + s6(xs, 2, 2, /*reverse=*/true);  // (B, 2E, L)
  // Cross-merge: sum the row-major half and the column-major half back on the (H, W) grid.
  auto y_row = y.narrow(1, 0, E).view({B, E, H, W});
  auto y_col = y.narrow(1, E, E).view({B, E, W, H}).transpose(2, 3);
  auto merged = (y_row + y_col).permute({0, 2, 3, 1});  // (B, H, W, E)
  if (options.out_norm()) merged = out_norm(merged);
  return out_proj(merged * F::silu(uz[1]));
}

}  // namespace mmx::nn
