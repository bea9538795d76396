// Helpers shared by the nn tests: closeness assertion with the max error in the message, and a
// plain float64 evaluation of the S6 recurrence (MambaMixer §3.1 with input-dependent B, C, Delta;
// state-spaces/mamba `selective_scan_ref`) used as the closed form.
#pragma once

#include "mmx/nn/s6.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

namespace mmx::test {

/// |a - b| <= atol + rtol |b| elementwise, reporting the largest violation.
inline ::testing::AssertionResult all_close(const torch::Tensor& a, const torch::Tensor& b, double rtol, double atol) {
  if (a.sizes() != b.sizes()) return ::testing::AssertionFailure() << "shape " << a.sizes() << " vs " << b.sizes();
  auto a64 = a.detach().to(torch::kFloat64), b64 = b.detach().to(torch::kFloat64);
  auto excess = (a64 - b64).abs() - (atol + rtol * b64.abs());
  const double worst = excess.max().item<double>();
  if (!(worst <= 0.0))
    return ::testing::AssertionFailure() << "max |a-b| = " << (a64 - b64).abs().max().item<double>() << " exceeds atol "
                                         << atol << " + rtol " << rtol << " * |b|";
  return ::testing::AssertionSuccess();
}

/// The S6 recurrence step by step (as state-spaces/mamba `selective_scan_ref`), float64, from the
/// layer's parameters.
/// u, z: (batch, E, L); reverse scans t = L-1 .. 0.
inline torch::Tensor s6_closed_form(const mmx::nn::S6Impl& s6, const torch::Tensor& u_in, const torch::Tensor& z_in,
                                    bool reverse) {
  const auto f64 = torch::kFloat64;
  auto u = u_in.to(f64);
  const int64_t R = s6.options.resolved_dt_rank(), N = s6.options.d_state();
  const int64_t L = u.size(2);
  auto Wx = s6.x_proj->weight.to(f64), Wdt = s6.dt_proj->weight.to(f64), bdt = s6.dt_proj->bias.to(f64),
       A = -torch::exp(s6.A_log.to(f64)), D = s6.D.to(f64);
  auto h = torch::zeros({u.size(0), u.size(1), N}, u.options());
  auto y = torch::zeros_like(u);
  for (int64_t s = 0; s < L; ++s) {
    const int64_t t = reverse ? L - 1 - s : s;
    auto ut = u.select(2, t);             // (batch, E)
    auto xt = torch::matmul(ut, Wx.t());  // (batch, R+2N)
    auto dlow = xt.narrow(1, 0, R), Bt = xt.narrow(1, R, N), Ct = xt.narrow(1, R + N, N);
    auto delta = torch::softplus(torch::matmul(dlow, Wdt.t()) + bdt);  // (batch, E)
    h = torch::exp(delta.unsqueeze(2) * A) * h + (delta * ut).unsqueeze(2) * Bt.unsqueeze(1);
    y.select(2, t).copy_((h * Ct.unsqueeze(1)).sum(2) + D * ut);
  }
  if (z_in.defined()) y = y * torch::silu(z_in.to(f64));
  return y;
}

}  // namespace mmx::test
