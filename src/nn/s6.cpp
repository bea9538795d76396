// The S6 layer and its initialisation (MambaMixer §3.1; state-spaces/mamba `Mamba` init).
#include "mmx/nn/s6.h"

#include "mmx/ops/selective_scan.h"

#include <cmath>

namespace mmx::nn {

int64_t auto_dt_rank(int64_t d_model) {
  TORCH_CHECK(d_model >= 1, "auto_dt_rank: d_model must be >= 1, got ", d_model);
  return (d_model + 15) / 16;
}

namespace {

void check_s6_init(const S6InitOptions& init) {
  TORCH_CHECK(0.0 < init.dt_min() && init.dt_min() <= init.dt_max(), "S6 init: need 0 < dt_min <= dt_max, got ",
              init.dt_min(), ", ", init.dt_max());
}

}  // namespace

void init_s6_parameters(const S6InitOptions& init, torch::Tensor dt_weight, torch::Tensor dt_bias, torch::Tensor A_log,
                        torch::Tensor D) {
  check_s6_init(init);
  TORCH_CHECK(dt_weight.dim() >= 1 && A_log.dim() == 2,
              "init_s6_parameters: dt_weight must be (..., R) and A_log (rows, N), got ", dt_weight.sizes(), " and ",
              A_log.sizes());
  torch::NoGradGuard no_grad;
  const int64_t R = dt_weight.size(-1);
  const double bound = init.dt_scale() / std::sqrt(static_cast<double>(R));
  dt_weight.uniform_(-bound, bound);
  // softplus(bias) = dt with log dt ~ U(ln dt_min, ln dt_max); inverse softplus dt + ln(1 - e^-dt).
  auto dt =
      torch::exp(torch::rand(dt_bias.sizes(), torch::kFloat64) * (std::log(init.dt_max()) - std::log(init.dt_min())) +
                 std::log(init.dt_min()))
          .clamp_min(init.dt_init_floor());
  auto inv_dt = dt + torch::log(-torch::expm1(-dt));
  dt_bias.copy_(inv_dt.to(dt_bias.scalar_type()));
  // S4D-real: A = -exp(A_log) = -(n + 1) for state n of every channel.
  const int64_t N = A_log.size(1);
  A_log.copy_(torch::arange(1, N + 1, torch::kFloat32).log().expand_as(A_log));
  D.fill_(1.0);
}

S6Impl::S6Impl(const S6Options& options_) : options(options_) { reset(); }

void S6Impl::reset() {
  const int64_t E = options.resolved_d_inner();
  const int64_t N = options.d_state();
  const int64_t R = options.resolved_dt_rank();
  TORCH_CHECK(E >= 1 && N >= 1 && R >= 1, "S6: d_inner, d_state and dt_rank must be >= 1, got ", E, ", ", N, ", ", R);
  TORCH_CHECK(N <= kMaxDState, "S6: d_state must be <= ", kMaxDState, ", got ", N);
  check_s6_init(options.s6_init());

  x_proj = register_module("x_proj", torch::nn::Linear(torch::nn::LinearOptions(E, R + 2 * N).bias(false)));
  dt_proj = register_module("dt_proj", torch::nn::Linear(torch::nn::LinearOptions(R, E)));
  A_log = register_parameter("A_log", torch::empty({E, N}));
  D = register_parameter("D", torch::empty({E}));
  init_s6_parameters(options.s6_init(), dt_proj->weight, dt_proj->bias, A_log, D);
}

torch::Tensor S6Impl::forward(const torch::Tensor& u, const torch::Tensor& z) {
  const int64_t E = options.resolved_d_inner();
  const int64_t N = options.d_state();
  const int64_t R = options.resolved_dt_rank();
  TORCH_CHECK(u.dim() == 3 && u.size(1) == E, "S6: u must have shape (batch, E, L) with E = ", E, ", got ", u.sizes());
  TORCH_CHECK(!z.defined() || z.sizes() == u.sizes(), "S6: z must have u's shape ", u.sizes(), ", got ", z.sizes());
  // [delta_low; B; C] = W_x u_t for every step: (R+2N, E) @ (batch, E, L) -> (batch, R+2N, L).
  auto x_dbl = torch::matmul(x_proj->weight, u);
  auto parts = x_dbl.split_with_sizes({R, N, N}, 1);
  auto delta = torch::matmul(dt_proj->weight, parts[0]);  // (batch, E, L); bias added in the scan
  auto B = parts[1].unsqueeze(1);                         // (batch, G = 1, N, L)
  auto C = parts[2].unsqueeze(1);

  // The scan takes A, D and the bias in fp32 (fp64 when u is fp64).
  const auto wt = u.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  auto A = -torch::exp(A_log.to(wt));
  SelectiveScanExtras extras;
  extras.D = D.to(wt);
  extras.z = z;
  extras.delta_bias = dt_proj->bias.to(wt);
  SelectiveScanOptions scan_options;
  scan_options.delta_softplus = true;
  scan_options.reverse = options.reverse();
  return selective_scan(u, delta, A, B, C, extras, scan_options).out;
}

}  // namespace mmx::nn
