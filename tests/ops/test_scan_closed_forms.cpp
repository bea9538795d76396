// Closed forms, finite differences and input validation of the selective scan.
#include <gtest/gtest.h>

#include <cmath>

#include "common/scan_case.h"
#include "common/tolerance.h"

namespace mmx::test {
namespace {

auto f64 = torch::TensorOptions().dtype(torch::kFloat64);

// Both backends: the reference in float64 and the fused kernel in float32.
struct Backend {
  const char* name;
  SelectiveScanResult (*fn)(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                            const torch::Tensor&, const SelectiveScanExtras&, const SelectiveScanOptions&);
  torch::ScalarType dtype;
  double tol;
};
const Backend kBackends[] = {{"reference_f64", selective_scan_ref, torch::kFloat64, 1e-12},
                             {"kernel_f32", selective_scan, torch::kFloat32, 2e-5}};

TEST(ScanClosedForm, ZeroDeltaGivesDTimesUGatedByZ) {
  for (const auto& be : kBackends) {
    SCOPED_TRACE(be.name);
    auto o = torch::TensorOptions().dtype(be.dtype);
    const int64_t b = 2, E = 5, L = 19, N = 16;
    auto u = torch::randn({b, E, L}, o), z = torch::randn({b, E, L}, o);
    auto D = torch::randn({E}, o);
    auto r = be.fn(u, torch::zeros({b, E, L}, o), -torch::rand({E, N}, o) - 0.1, torch::randn({b, 1, N, L}, o),
                   torch::randn({b, 1, N, L}, o), {D, z, {}, {}}, {});
    auto expect = D.view({1, E, 1}) * u * torch::silu(z);
    EXPECT_LT(max_abs_err(r.out, expect), be.tol);
  }
}

TEST(ScanClosedForm, SingleStepFromAnInitialState) {
  const int64_t E = 3, N = 4;
  auto u = torch::randn({1, E, 1}, f64), delta = torch::randn({1, E, 1}, f64);
  auto A = -torch::rand({E, N}, f64) - 0.2, B = torch::randn({1, 1, N, 1}, f64), C = torch::randn({1, 1, N, 1}, f64),
       D = torch::randn({E}, f64), bias = torch::randn({E}, f64), h0 = torch::randn({1, E, N}, f64);
  auto expect = torch::zeros({1, E, 1}, f64);
  auto expect_h = torch::zeros({1, E, N}, f64);
  for (int64_t e = 0; e < E; ++e) {
    const double x = delta[0][e][0].item<double>() + bias[e].item<double>();
    const double dt = std::log1p(std::exp(x));
    double y = D[e].item<double>() * u[0][e][0].item<double>();
    for (int64_t n = 0; n < N; ++n) {
      const double h = std::exp(dt * A[e][n].item<double>()) * h0[0][e][n].item<double>() +
                       dt * B[0][0][n][0].item<double>() * u[0][e][0].item<double>();
      expect_h[0][e][n] = h;
      y += C[0][0][n][0].item<double>() * h;
    }
    expect[0][e][0] = y;
  }
  for (const auto& be : kBackends) {
    SCOPED_TRACE(be.name);
    auto c = [&](const torch::Tensor& t) { return t.to(be.dtype); };
    auto wt = be.dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    auto r = be.fn(c(u), c(delta), A.to(wt), c(B), c(C), {D.to(wt), {}, bias.to(wt), h0.to(wt)}, {true, false, true});
    EXPECT_LT(max_abs_err(r.out, expect), be.tol * 10);
    EXPECT_LT(max_abs_err(r.last_state, expect_h), be.tol * 10);
  }
}

TEST(ScanClosedForm, ConstantInputsGiveAGeometricSeries) {
  // Delta, A, B, C, u constant over t and h(-1) = 0:
  //   h_t[n] = Delta B_n u (1 - a_n^(t+1)) / (1 - a_n),  a_n = exp(Delta A_n).
  const int64_t E = 2, N = 3, L = 200;
  const double dt = 0.3, u0 = 1.7;
  const double An[N] = {-0.5, -1.0, -2.0}, Bn[N] = {0.4, -1.1, 0.9}, Cn[N] = {1.3, 0.2, -0.7};
  auto A = torch::tensor({An[0], An[1], An[2]}, f64).repeat({E, 1});
  auto B = torch::tensor({Bn[0], Bn[1], Bn[2]}, f64).view({1, 1, N, 1}).expand({1, 1, N, L});
  auto C = torch::tensor({Cn[0], Cn[1], Cn[2]}, f64).view({1, 1, N, 1}).expand({1, 1, N, L});
  auto expect = torch::zeros({1, E, L}, f64);
  for (int64_t t = 0; t < L; ++t) {
    double y = 0;
    for (int n = 0; n < N; ++n) {
      const double a = std::exp(dt * An[n]);
      y += Cn[n] * dt * Bn[n] * u0 * (1 - std::pow(a, t + 1)) / (1 - a);
    }
    expect.select(2, t).fill_(y);
  }
  for (const auto& be : kBackends) {
    SCOPED_TRACE(be.name);
    auto wt = be.dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    auto r = be.fn(torch::full({1, E, L}, u0, f64).to(be.dtype), torch::full({1, E, L}, dt, f64).to(be.dtype), A.to(wt),
                   B.contiguous().to(be.dtype), C.contiguous().to(be.dtype), {}, {});
    EXPECT_LT(max_abs_err(r.out, expect), be.tol * 10);
  }
}

TEST(ScanClosedForm, ReverseEqualsFlippedForward) {
  const ScanCase c{2, 6, 45, 8, 2};
  const ScanInputs in = make_scan_inputs(c, 11);
  auto flip = [](const torch::Tensor& t) { return t.flip({-1}); };
  for (const auto& be : kBackends) {
    SCOPED_TRACE(be.name);
    auto io = [&](const torch::Tensor& t) { return t.to(be.dtype); };
    auto wt = be.dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    SelectiveScanExtras ex{in.D.to(wt), io(in.z), in.bias.to(wt), in.h0.to(wt)};
    SelectiveScanExtras exf{in.D.to(wt), flip(io(in.z)), in.bias.to(wt), in.h0.to(wt)};
    auto rev = be.fn(io(in.u), io(in.delta), in.A.to(wt), io(in.B), io(in.C), ex, {true, true, true});
    auto fwd = be.fn(flip(io(in.u)), flip(io(in.delta)), in.A.to(wt), flip(io(in.B)), flip(io(in.C)), exf,
                     {true, false, true});
    EXPECT_LT(max_abs_err(rev.out, flip(fwd.out)), be.tol * 10);
    EXPECT_LT(max_abs_err(rev.last_state, fwd.last_state), be.tol * 10);
  }
}

TEST(ScanClosedForm, TwoHalvesChainedThroughTheLastStateEqualOneScan) {
  const ScanCase c{2, 7, 100, 16, 1};
  const ScanInputs in = make_scan_inputs(c, 12);
  for (const auto& be : kBackends) {
    SCOPED_TRACE(be.name);
    auto io = [&](const torch::Tensor& t) { return t.to(be.dtype); };
    auto wt = be.dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    auto half = [&](const torch::Tensor& t, int64_t i) { return io(t).narrow(-1, i * 50, 50); };
    auto full = be.fn(io(in.u), io(in.delta), in.A.to(wt), io(in.B), io(in.C),
                      {in.D.to(wt), io(in.z), in.bias.to(wt), {}}, {true, false, true});
    auto first = be.fn(half(in.u, 0), half(in.delta, 0), in.A.to(wt), half(in.B, 0), half(in.C, 0),
                       {in.D.to(wt), half(in.z, 0), in.bias.to(wt), {}}, {true, false, true});
    auto second = be.fn(half(in.u, 1), half(in.delta, 1), in.A.to(wt), half(in.B, 1), half(in.C, 1),
                        {in.D.to(wt), half(in.z, 1), in.bias.to(wt), first.last_state}, {true, false, true});
    EXPECT_LT(max_abs_err(torch::cat({first.out, second.out}, -1), full.out), be.tol * 10);
    EXPECT_LT(max_abs_err(second.last_state, full.last_state), be.tol * 10);
  }
}

// Reference gradients against central finite differences in float64, every element of a small case.
TEST(ScanReference, GradientsMatchCentralFiniteDifferences) {
  for (const bool reverse : {false, true}) {
    ScanCase c{1, 3, 5, 4, 1};
    c.reverse = reverse;
    SCOPED_TRACE(c.name());
    ScanInputs in = make_scan_inputs(c, 21);
    const ScanRun run = run_scan(selective_scan_ref, c, in, torch::kFloat64, torch::kFloat64);
    std::vector<torch::Tensor*> params = {&in.u, &in.delta, &in.A, &in.B, &in.C, &in.D, &in.z, &in.bias, &in.h0};
    auto loss = [&]() {
      auto r =
          selective_scan_ref(in.u, in.delta, in.A, in.B, in.C, {in.D, in.z, in.bias, in.h0}, {true, reverse, true});
      return ((r.out * in.dout).sum() + (r.last_state * in.dlast).sum()).item<double>();
    };
    const double eps = 1e-6;
    for (size_t i = 0; i < params.size(); ++i) {
      torch::Tensor& p = *params[i];
      p = p.contiguous();
      auto flat = p.view({-1});
      auto g = run.grads[i].contiguous().view({-1});
      for (int64_t k = 0; k < flat.numel(); ++k) {
        const double v = flat[k].item<double>();
        flat[k] = v + eps;
        const double lp = loss();
        flat[k] = v - eps;
        const double lm = loss();
        flat[k] = v;
        const double fd = (lp - lm) / (2 * eps);
        EXPECT_NEAR(g[k].item<double>(), fd, 1e-6 * (1 + std::abs(fd))) << grad_names()[i] << "[" << k << "]";
      }
    }
  }
}

// ------------------------------------------------------------------ bad input
void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find(needle), std::string::npos)
        << "message: " << e.what_without_backtrace();
  }
}

TEST(ScanInput, BadInputsRaiseErrorsNamingTheArgument) {
  auto u = torch::randn({2, 8, 10}), d = torch::randn({2, 8, 10}), A = -torch::rand({8, 16});
  auto B = torch::randn({2, 2, 16, 10}), C = torch::randn({2, 2, 16, 10});
  for (auto fn : {selective_scan, selective_scan_ref}) {
    expect_error([&] { fn(u, torch::randn({2, 8, 11}), A, B, C, {}, {}); }, "delta must have the shape of u");
    expect_error(
        [&] {
          fn(u, d, A, torch::randn({2, 3, 16, 10}), torch::randn({2, 3, 16, 10}), {}, {});
        },
        "must divide E = 8");
    expect_error([&] { fn(u, d, A, B, torch::randn({2, 2, 16, 9}), {}, {}); }, "C must have the shape of B");
    expect_error([&] { fn(u, d, A.to(torch::kFloat64), B, C, {}, {}); }, "A must have dtype Float");
    expect_error([&] { fn(u.to(torch::kInt32), d, A, B, C, {}, {}); }, "u must be float32");
    expect_error([&] { fn(u, d.to(torch::kBFloat16), A, B, C, {}, {}); }, "delta must have u's dtype");
    expect_error(
        [&] {
          fn(u, d, -torch::rand({8, 257}), torch::randn({2, 2, 257, 10}), torch::randn({2, 2, 257, 10}), {}, {});
        },
        "N must be in [1, 256]");
    expect_error(
        [&] {
          fn(torch::randn({2, 8, 0}), torch::randn({2, 8, 0}), A, torch::randn({2, 2, 16, 0}),
             torch::randn({2, 2, 16, 0}), {}, {});
        },
        "u must not be empty");
    expect_error([&] { fn(u, d, A, B, C, {torch::ones({7}), {}, {}, {}}, {}); }, "D must have shape (E)");
    expect_error([&] { fn(u, d, A, B, C, {{}, torch::randn({2, 8, 9}), {}, {}}, {}); }, "z must have shape");
    expect_error([&] { fn(u, d, A, B, C, {{}, {}, {}, torch::zeros({2, 8, 15})}, {}); }, "h0 must have shape");
    expect_error([&] { fn(u, d, torch::rand({7, 16}), B, C, {}, {}); }, "A must have shape (E, N)");
  }
}

}  // namespace
}  // namespace mmx::test
