// K stacked S6 parameter sets run as one grouped selective scan (the scan orders of MambaMixer
// §3.2 / §4.1; VMamba SS2D layout).
#include "mmx/nn/stacked_s6.h"

#include "mmx/ops/selective_scan.h"

#include <cmath>

namespace mmx::nn {

StackedS6Impl::StackedS6Impl(const StackedS6Options& options_) : options(options_) { reset(); }

void StackedS6Impl::reset() {
  const int64_t K = options.n_directions();
  const int64_t E = options.d_inner();
  const int64_t N = options.d_state();
  const int64_t R = options.dt_rank();
  TORCH_CHECK(K >= 1 && E >= 1 && N >= 1 && R >= 1,
              "StackedS6: n_directions, d_inner, d_state and dt_rank must be >= 1, got ", K, ", ", E, ", ", N, ", ", R);
  TORCH_CHECK(N <= kMaxDState, "StackedS6: d_state must be <= ", kMaxDState, ", got ", N);

  torch::NoGradGuard no_grad;
  const double x_bound = 1.0 / std::sqrt(static_cast<double>(E));  // nn.Linear default init
  x_proj_weight = register_parameter("x_proj_weight", torch::empty({K, R + 2 * N, E}).uniform_(-x_bound, x_bound));
  dt_projs_weight = register_parameter("dt_projs_weight", torch::empty({K, E, R}));
  dt_projs_bias = register_parameter("dt_projs_bias", torch::empty({K, E}));
  A_logs = register_parameter("A_logs", torch::empty({K * E, N}));
  Ds = register_parameter("Ds", torch::empty({K * E}));
  init_s6_parameters(options.s6_init(), dt_projs_weight, dt_projs_bias, A_logs, Ds);
}

torch::Tensor StackedS6Impl::forward(const torch::Tensor& u, int64_t first, int64_t count, bool reverse) {
  const int64_t K = options.n_directions();
  const int64_t E = options.d_inner();
  const int64_t N = options.d_state();
  const int64_t R = options.dt_rank();
  TORCH_CHECK(first >= 0 && count >= 1 && first + count <= K, "StackedS6: directions [", first, ", ", first + count,
              ") outside [0, ", K, ")");
  TORCH_CHECK(u.dim() == 3 && u.size(1) == count * E, "StackedS6: u must have shape (batch, ", count * E, ", L) for ",
              count, " direction(s) of E = ", E, ", got ", u.sizes());
  const int64_t batch = u.size(0);
  const int64_t L = u.size(2);
  const auto us = u.view({batch, count, E, L});
  // [delta_low; B; C] for every direction and step: (B, k, R+2N, L). Batched matmuls on the
  // (E, L) / (R, L) matrices as they lie: no transposed copy of u in or of delta out (an einsum
  // permutes both).
  auto x_dbl = torch::matmul(x_proj_weight.narrow(0, first, count), us);
  auto parts = x_dbl.split_with_sizes({R, N, N}, 2);
  auto delta = torch::matmul(dt_projs_weight.narrow(0, first, count), parts[0]).view({batch, count * E, L});
  // B, C: (batch, G = count, N, L), one group per direction.
  const auto& Bs = parts[1];
  const auto& Cs = parts[2];

  const auto wt = u.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  auto A = -torch::exp(A_logs.narrow(0, first * E, count * E).to(wt));
  SelectiveScanExtras extras;
  extras.D = Ds.narrow(0, first * E, count * E).to(wt);
  extras.delta_bias = dt_projs_bias.narrow(0, first, count).reshape({count * E}).to(wt);
  SelectiveScanOptions scan_options;
  scan_options.delta_softplus = true;
  scan_options.reverse = reverse;
  scan_options.recompute_states = options.scan_recompute();
  // One dtype for u, delta, B, C (autocast may have produced reduced-precision projections).
  const auto io = delta.scalar_type();
  return selective_scan(u.to(io), delta, A, Bs.to(io), Cs.to(io), extras, scan_options).out;
}

}  // namespace mmx::nn
